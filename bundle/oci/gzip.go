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
	dst  io.Writer
	cur  []byte
	dict []byte
	crc  uint32
	size uint32
	jobs []*deflateJob
	// queue feeds the workers, started with the first chunk; free returns the chunk
	// buffers they are done with, so a stream costs a few buffers however long it is.
	queue   chan *deflateJob
	free    chan []byte
	workers sync.WaitGroup
}

type deflateJob struct {
	chunk, dict []byte
	final       bool
	out         bytes.Buffer
	err         error
	done        chan struct{}
}

func newChunkedGzip(dst io.Writer) *chunkedGzip {
	return &chunkedGzip{dst: dst}
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
			z.cur = z.buffer()
		}
		k := copy(z.cur[len(z.cur):chunkSize], p)
		z.cur, p = z.cur[:len(z.cur)+k], p[k:]
	}
	return n, nil
}

// buffer is an empty chunk buffer: one a worker is done with, or a new one while the
// workers hold fewer than they can use.
func (z *chunkedGzip) buffer() []byte {
	if z.free == nil {
		return make([]byte, 0, chunkSize)
	}
	select {
	case b := <-z.free:
		return b[:0]
	default:
		return make([]byte, 0, chunkSize)
	}
}

// start hands the current chunk to the workers; final ends the stream with it. A stream of
// one chunk is compressed here, with no goroutine.
func (z *chunkedGzip) start(final bool) {
	j := &deflateJob{chunk: z.cur, dict: z.dict, final: final, done: make(chan struct{})}
	z.dict = append(z.dict[:0:0], z.cur[max(0, len(z.cur)-windowSize):]...)
	z.cur = nil
	z.jobs = append(z.jobs, j)
	if final && z.queue == nil {
		var w *flate.Writer
		j.err = j.deflate(&w)
		close(j.done)
		return
	}
	if z.queue == nil {
		n := runtime.GOMAXPROCS(0)
		z.queue = make(chan *deflateJob, n)
		z.free = make(chan []byte, 2*n)
		for range n {
			z.workers.Add(1)
			go z.work()
		}
	}
	z.queue <- j
}

func (z *chunkedGzip) work() {
	defer z.workers.Done()
	var w *flate.Writer
	for j := range z.queue {
		j.err = j.deflate(&w)
		select {
		case z.free <- j.chunk:
		default:
		}
		j.chunk, j.dict = nil, nil
		close(j.done)
	}
}

// deflate compresses the job's chunk at gzipLevel, primed with its dictionary, with *w,
// which it makes on first use: a worker keeps one compressor for all its chunks.
func (j *deflateJob) deflate(w **flate.Writer) error {
	if *w == nil {
		var err error
		if *w, err = flate.NewWriter(io.Discard, gzipLevel); err != nil {
			return err
		}
	}
	// Bundle YAML compresses about 25:1; the buffer grows if a chunk needs more.
	j.out.Grow(len(j.chunk) / 16)
	// NewWriter's state and ResetDict's with no dictionary are the same: the first chunk
	// compresses exactly as a plain gzip.Writer would.
	(*w).ResetDict(&j.out, j.dict)
	if _, err := (*w).Write(j.chunk); err != nil {
		return err
	}
	if j.final {
		return (*w).Close()
	}
	return (*w).Flush()
}

// Close compresses the last chunk, which ends the stream, and writes the header, every
// chunk in order and the trailer.
func (z *chunkedGzip) Close() error {
	z.start(true)
	if z.queue != nil {
		close(z.queue)
		defer z.workers.Wait()
	}
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

// abandon stops the workers of a stream that will not be closed, e.g. when reading the
// tree it packs failed.
func (z *chunkedGzip) abandon() {
	if z.queue != nil {
		close(z.queue)
		z.workers.Wait()
		z.queue = nil
	}
}
