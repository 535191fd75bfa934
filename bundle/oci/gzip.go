package oci

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
)

// chunkSize is how much of the tar stream each deflate job compresses. It is part of the
// format (the layer bytes depend on it), never of the machine: the same input splits the
// same way whatever the CPU count, which only decides how many jobs run at once.
const chunkSize = 512 << 10

// windowSize is deflate's back-reference window; each chunk is primed with that much of the
// input before it, so chunking costs almost no compression.
const windowSize = 32 << 10

// gzipHeader is RFC 1952's header with nothing optional: no name, comment or extra field,
// modification time 0, no compression-level hint (XFL 0) and OS 255 (unknown), which is
// what klauspost/compress's gzip.Writer writes at level 6 with ModTime at the epoch.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// chunkedGzip writes one gzip member whose deflate stream is compressed chunkSize bytes at
// a time on every CPU, the way pigz does: a chunk is primed with the 32 KiB before it as
// its dictionary and ends on a sync flush, which is byte aligned and not final, so the
// chunks' outputs concatenated are one valid deflate stream; the last chunk ends the stream.
// Any gzip reader reads it; the bytes depend only on the input, the level and chunkSize.
type chunkedGzip struct {
	dst   io.Writer
	cur   []byte
	dict  []byte
	crc   uint32
	size  uint32
	jobs  []*deflateJob
	slots chan struct{}
}

type deflateJob struct {
	out  bytes.Buffer
	err  error
	done chan struct{}
}

var deflaters sync.Pool

func newChunkedGzip(dst io.Writer) *chunkedGzip {
	return &chunkedGzip{dst: dst, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

func (z *chunkedGzip) Write(p []byte) (int, error) {
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p)) // RFC 1952 ISIZE: the length modulo 2^32
	n := len(p)
	for len(p) > 0 {
		// A full chunk is started only once more input follows it: the last chunk, full
		// or not, is the one Close ends the stream with.
		if len(z.cur) == chunkSize {
			z.start(false)
		}
		if z.cur == nil {
			z.cur = make([]byte, 0, chunkSize)
		}
		k := copy(z.cur[len(z.cur):chunkSize], p)
		z.cur, p = z.cur[:len(z.cur)+k], p[k:]
	}
	return n, nil
}

// start hands the filled chunk to a deflate job; final ends the stream with it.
func (z *chunkedGzip) start(final bool) {
	chunk, dict := z.cur, z.dict
	z.dict = append([]byte(nil), chunk[max(0, len(chunk)-windowSize):]...)
	z.cur = nil
	j := &deflateJob{done: make(chan struct{})}
	z.jobs = append(z.jobs, j)
	z.slots <- struct{}{}
	go func() {
		defer func() { <-z.slots; close(j.done) }()
		j.err = deflateChunk(&j.out, dict, chunk, final)
	}()
}

// deflateChunk compresses one chunk at gzipLevel, primed with dict.
func deflateChunk(out *bytes.Buffer, dict, chunk []byte, final bool) error {
	out.Grow(len(chunk) / 4)
	w, _ := deflaters.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriter(out, gzipLevel); err != nil {
			return err
		}
	}
	defer deflaters.Put(w)
	// NewWriter's state and ResetDict's with no dictionary are the same: the first chunk
	// compresses exactly as a plain gzip.Writer would.
	w.ResetDict(out, dict)
	if _, err := w.Write(chunk); err != nil {
		return err
	}
	if final {
		return w.Close()
	}
	return w.Flush()
}

// Close compresses the last chunk, which ends the stream, and writes the header, every
// chunk in order and the trailer.
func (z *chunkedGzip) Close() error {
	z.start(true)
	if _, err := z.dst.Write(gzipHeader); err != nil {
		return err
	}
	for _, j := range z.jobs {
		<-j.done
		if j.err != nil {
			return j.err
		}
		if _, err := z.dst.Write(j.out.Bytes()); err != nil {
			return err
		}
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	_, err := z.dst.Write(trailer[:])
	return err
}
