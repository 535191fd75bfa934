package oci

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// testInput is n bytes that compress like a bundle's tar stream (repeated YAML with
// varying names) with stretches of noise, so that chunks both match across their
// boundaries and do not.
func testInput(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%50 == 49 {
			noise := make([]byte, 300)
			for j := range noise {
				noise[j] = byte(r.IntN(256))
			}
			b.Write(noise)
			continue
		}
		fmt.Fprintf(&b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: team-%04d\nspec:\n  podSelector: {}\n", i)
	}
	return b.Bytes()[:n]
}

func chunked(t *testing.T, in []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	z := newChunkedGzip(&out)
	// Written in uneven pieces, as tar writes headers and file bodies.
	for p := in; len(p) > 0; {
		k := min(len(p), 1+len(p)%7919)
		if _, err := z.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

var chunkSizes = []int{0, 1, 1000, chunkSize - 1, chunkSize, chunkSize + 1, 2*chunkSize + windowSize, 5*chunkSize + 12345}

// TestChunkedGzipReads: every gzip reader there is here reads the input back: Go's, which
// Flux, Argo CD and go-containerregistry use, and GNU gzip's, which `tar xzf` runs.
func TestChunkedGzipReads(t *testing.T) {
	gnu, _ := exec.LookPath("gzip")
	for _, n := range chunkSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			in := testInput(n)
			gz := chunked(t, in)
			r, err := stdgzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatal(err)
			}
			r.Multistream(false) // one member: the chunks are one deflate stream, not members
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, in) {
				t.Fatalf("compress/gzip read %d bytes back, want the %d written", len(got), len(in))
			}
			if gnu == "" {
				return
			}
			cmd := exec.Command(gnu, "-dc")
			cmd.Stdin = bytes.NewReader(gz)
			out, err := cmd.Output()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("gzip -dc: %v, %d bytes back of %d", err, len(out), len(in))
			}
		})
	}
}

// TestChunkedGzipOneChunkIsPlainGzip: up to one chunk, the output is byte for byte what
// klauspost's gzip.Writer writes at the same level with no header fields, so a small
// bundle's layer is plain single-stream gzip.
func TestChunkedGzipOneChunkIsPlainGzip(t *testing.T) {
	for _, n := range []int{0, 1, 1000, chunkSize - 1, chunkSize} {
		in := testInput(n)
		var want bytes.Buffer
		w, err := kgzip.NewWriterLevel(&want, gzipLevel)
		if err != nil {
			t.Fatal(err)
		}
		w.ModTime = epoch
		if _, err := w.Write(in); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := chunked(t, in); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%d bytes: chunked output (%d bytes) differs from gzip.Writer's (%d bytes)", n, len(got), want.Len())
		}
	}
}

// TestChunkedGzipDependsOnInputOnly: the bytes do not change with the number of CPUs
// compressing them, and chunking costs at most 2% of the single-stream size.
func TestChunkedGzipDependsOnInputOnly(t *testing.T) {
	in := testInput(5*chunkSize + 12345)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first []byte
	for _, procs := range []int{1, 2, 7} {
		runtime.GOMAXPROCS(procs)
		got := chunked(t, in)
		if first == nil {
			first = got
		} else if !bytes.Equal(got, first) {
			t.Fatalf("GOMAXPROCS=%d gives other bytes than GOMAXPROCS=1", procs)
		}
	}
	var single bytes.Buffer
	w, _ := kgzip.NewWriterLevel(&single, gzipLevel)
	_, _ = w.Write(in)
	_ = w.Close()
	if limit := single.Len() * 102 / 100; len(first) > limit {
		t.Errorf("chunked %d bytes, single stream %d: chunking costs more than 2%%", len(first), single.Len())
	}
}
