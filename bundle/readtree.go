package bundle

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// The errors a tree reader gives for what the limits and the format refuse, worded the same
// whichever tree reader (treeFS) is in use.
func errNotRegular(rel string) error {
	return fmt.Errorf("%s: only regular files may be in a bundle", rel)
}

func errTooMany() error { return fmt.Errorf("more than %d files", maxFiles) }

func errTooBig() error { return fmt.Errorf("bundle is over %d bytes", MaxTreeBytes) }

func errFileTooBig(rel string, size int64) error {
	return fmt.Errorf("%s: %d bytes is over the %d-byte limit", rel, size, MaxFileBytes)
}

// maxFiles is MaxFiles, which the tests lower rather than write 10,000 files.
var maxFiles = MaxFiles

// treeFS lists and reads one bundle tree: with plain system calls on Linux (openTree), with
// the os package elsewhere (openTreePortable).
type treeFS interface {
	// walk calls fn with the slash-separated path of every regular file, in path order
	// (see entryLess); an entry that is neither a regular file nor a directory is an error
	// in its place, and so is fn's error.
	walk(fn func(rel string) error) error
	// read reads the regular file rel, at most MaxFileBytes; what it opens is checked
	// again, since the file may have been swapped since the walk saw it. A non-nil buf is
	// a buffer to reuse (see readAll); nil reads into one of the file's size.
	read(rel string, buf []byte) ([]byte, error)
	close()
}

// entryLess orders a directory's entries so that a depth-first walk meets the files in
// path order, the order of sorted full paths (which Bundle.Paths and the tar stream use): a
// directory sorts as its name followed by a slash, so "a.yaml" comes before "a/b.yaml".
func entryLess(a string, aDir bool, b string, bDir bool) bool {
	if aDir {
		a += "/"
	}
	if bDir {
		b += "/"
	}
	return a < b
}

// childPath is the path of the entry name in the directory rel ("" for the root).
func childPath(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// readWindow is how many files the reading may run ahead of the caller's handling of
// them: enough to keep the readers busy, few enough that a tree of large files is not
// read far past an error or the size limit.
const readWindow = 64

type readJob struct {
	rel  string
	data []byte
	sum  [32]byte
	err  error
	done chan struct{}
}

// readTree reads every file of t, ioWorkers at a time while the walk goes on, and hands
// each file, with its SHA-256, to each in path order, on the calling goroutine, as soon as
// it and every file before it are read: a caller packing the tree does so while it is
// read. With reuse, a file's buffer is read into again once each has returned, so that a
// tree streamed through costs a window of buffers, not its size; the index's and the
// kustomization's are not, so that they may be kept. The index is read before the walk and
// given to index, so that its decoding overlaps all the rest.
// The outcome is the same on every run: the first error in path order (a file's, the size
// limit's, each's, or the walk's at its place).
func readTree(t treeFS, index func([]byte), reuse bool, each func(rel string, data []byte, sum [32]byte) error) error {
	// The index is read first; if it cannot be (missing, a link, too large), the walk or
	// its reading in turn says why.
	early, earlyErr := t.read(IndexFile, nil)
	if earlyErr == nil {
		index(early)
	}
	jobs := make(chan *readJob, readWindow)
	order := make(chan *readJob, readWindow)
	// free holds buffers each is done with; it has room for every job in flight, so
	// returning one never blocks.
	free := make(chan []byte, 2*readWindow+ioWorkers)
	var stop atomic.Bool
	var walkErr error
	go func() {
		defer close(jobs)
		defer close(order)
		n := 0
		walkErr = t.walk(func(rel string) error {
			if stop.Load() {
				return errStopped
			}
			if n++; n > maxFiles {
				return errTooMany()
			}
			j := &readJob{rel: rel, done: make(chan struct{})}
			if rel == IndexFile && earlyErr == nil {
				j.data, j.sum = early, sha256.Sum256(early)
				close(j.done)
				order <- j
				return nil
			}
			order <- j // waits while the caller is readWindow files behind
			jobs <- j
			return nil
		})
	}()
	var workers sync.WaitGroup
	for range ioWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if !stop.Load() {
					var buf []byte // nil: a buffer of the file's size, kept by each
					if reuse {
						select {
						case buf = <-free:
						default:
							buf = []byte{}
						}
					}
					if j.data, j.err = t.read(j.rel, buf); j.err == nil {
						j.sum = sha256.Sum256(j.data)
					}
				}
				close(j.done)
			}
		}()
	}
	var total int64
	var err error
	for j := range order {
		<-j.done
		if err != nil {
			continue // drained, so that the walk and the readers end
		}
		switch total += int64(len(j.data)); {
		case j.err != nil:
			err = j.err
		case total > MaxTreeBytes:
			err = errTooBig()
		default:
			err = each(j.rel, j.data, j.sum)
		}
		if err != nil {
			stop.Store(true)
			continue
		}
		if reuse && j.rel != IndexFile && j.rel != KustomizeFile {
			select {
			case free <- j.data[:0]:
			default:
			}
		}
	}
	workers.Wait()
	if err == nil && walkErr != nil && !errors.Is(walkErr, errStopped) {
		err = walkErr
	}
	return err
}

var errStopped = errors.New("stopped")

// portableTree is treeFS with the os package.
type portableTree struct{ dir string }

func openTreePortable(dir string) (treeFS, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	return portableTree{dir}, nil
}

func (t portableTree) close() {}

func (t portableTree) walk(fn func(rel string) error) error { return t.walkDir("", fn) }

func (t portableTree) walkDir(rel string, fn func(rel string) error) error {
	entries, err := os.ReadDir(filepath.Join(t.dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool {
		return entryLess(entries[i].Name(), entries[i].IsDir(), entries[j].Name(), entries[j].IsDir())
	})
	for _, e := range entries {
		child := childPath(rel, e.Name())
		switch {
		case e.IsDir():
			err = t.walkDir(child, fn)
		case e.Type().IsRegular():
			err = fn(child)
		default:
			err = errNotRegular(child)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t portableTree) read(rel string, buf []byte) ([]byte, error) {
	path := filepath.Join(t.dir, filepath.FromSlash(rel))
	// Opening would follow a link and wait on a FIFO for a writer; the index is read
	// before the walk has seen what it is.
	if st, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, errNotRegular(rel)
	}
	return readLimited(path, rel, buf)
}

// readLimited reads a regular file of at most MaxFileBytes. It checks what it opened, not
// what the walk saw, so a file swapped for a link or grown in between is still refused.
func readLimited(path, rel string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errNotRegular(rel)
	}
	if info.Size() > MaxFileBytes {
		return nil, errFileTooBig(rel, info.Size())
	}
	return readAll(rel, info.Size(), buf, f.Read)
}

// readAll reads a file of the given size to its end through read, into buf when it holds
// one byte more than the size (so that a file that grew since its stat is seen, not cut
// short), else into a new buffer: of whole pages when buf is a buffer to reuse (non-nil),
// so that it fits most other files next time, and of the size when the bytes are kept.
func readAll(rel string, size int64, buf []byte, read func([]byte) (int, error)) ([]byte, error) {
	switch {
	case int64(cap(buf)) >= size+1:
	case buf != nil:
		buf = make([]byte, 0, (size+1+4095)&^4095)
	default:
		buf = make([]byte, 0, size+1)
	}
	buf = buf[:0]
	for {
		want := cap(buf) - len(buf)
		n, err := read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		// A read of a regular file stops short only at its end: one that stopped short at
		// the size the stat gave needs no further read to say so.
		if n < want && int64(len(buf)) == size {
			return buf, nil
		}
		if len(buf) > MaxFileBytes {
			return nil, fmt.Errorf("%s: over the %d-byte limit", rel, MaxFileBytes)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
