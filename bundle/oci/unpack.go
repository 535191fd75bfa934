package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

// Limits bound what Unpack accepts from a layer.
type Limits struct {
	// MaxFiles is the most regular files; as many directories again are allowed.
	MaxFiles int
	// MaxFileBytes is the largest file.
	MaxFileBytes int64
	// MaxTreeBytes is the most file content in all; the decompressed stream may exceed it
	// only by the tar headers of MaxFiles files and their directories.
	MaxTreeBytes int64
}

// DefaultLimits are the limits ReadDir applies to a bundle directory.
func DefaultLimits() Limits {
	return Limits{MaxFiles: bundle.MaxFiles, MaxFileBytes: bundle.MaxFileBytes, MaxTreeBytes: bundle.MaxTreeBytes}
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxTreeBytes <= 0 {
		l.MaxTreeBytes = d.MaxTreeBytes
	}
	return l
}

// errTooBig stops decompression at the limit, before a gzip bomb can inflate further.
var errTooBig = errors.New("decompressed layer is over the size limit")

// capReader fails once more than max bytes have been read through it.
type capReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errTooBig
	}
	if rest := c.max - c.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return 0, errTooBig
	}
	return n, err
}

// Unpack reads a bundle layer into memory, refusing anything a bundle never contains:
// absolute or escaping paths, links, devices and other special files, a path twice (or as
// both file and directory), and more than lim allows. Decompressed bytes are counted as
// they are inflated, so a gzip bomb stops at the limit instead of filling memory. The
// stream is read to its end so that the gzip checksum is checked too. Zero fields of lim
// take DefaultLimits.
func Unpack(layer io.Reader, lim Limits) (map[string][]byte, error) {
	return unpack(layer, lim, nil)
}

// unpack is Unpack, calling onFile with each file as soon as it is read.
func unpack(layer io.Reader, lim Limits, onFile func(name string, data []byte)) (map[string][]byte, error) {
	lim = lim.orDefaults()
	gz, err := gzip.NewReader(layer)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("bundle layer is not gzip: %w", err))
	}
	// Each entry costs at most a 512-byte header and 511 bytes of padding; PAX records for
	// long names get another 1 MiB of slack.
	headers := int64(2*lim.MaxFiles+2) * 1024
	stream := &capReader{r: gz, max: lim.MaxTreeBytes + headers + 1<<20}
	files, err := untar(tar.NewReader(stream), lim, onFile)
	if err == nil {
		// The tar end marker is not the end of the gzip stream: read on to the checksum.
		_, err = io.Copy(io.Discard, stream)
	}
	if errors.Is(err, errTooBig) {
		err = fmt.Errorf("bundle layer inflates to more than %d bytes: refused as a possible gzip bomb", stream.max)
	}
	if err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	return files, nil
}

func untar(tr *tar.Reader, lim Limits, onFile func(name string, data []byte)) (map[string][]byte, error) {
	files := map[string][]byte{}
	dirs := map[string]bool{}
	var total int64
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle layer: %w", err)
		}
		if entries >= 2*lim.MaxFiles {
			return nil, fmt.Errorf("bundle layer has more than %d entries", 2*lim.MaxFiles)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch hdr.Typeflag {
		case tar.TypeDir:
			name = strings.TrimSuffix(name, "/")
			if name == "" || name == "." {
				continue // the root, as `tar -C dir .` writes it
			}
			if !bundle.ValidPath(name) {
				return nil, fmt.Errorf("bundle layer entry %q escapes the bundle", hdr.Name)
			}
			if _, ok := files[name]; ok {
				return nil, fmt.Errorf("bundle layer has %q as both file and directory", name)
			}
			dirs[name] = true
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("bundle layer entry %q is not a regular file (type %q): links, devices and other special files are refused", hdr.Name, hdr.Typeflag)
		}
		if !bundle.ValidPath(name) {
			return nil, fmt.Errorf("bundle layer entry %q escapes the bundle", hdr.Name)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("bundle layer has %q twice", name)
		}
		if dirs[name] {
			return nil, fmt.Errorf("bundle layer has %q as both directory and file", name)
		}
		if len(files) >= lim.MaxFiles {
			return nil, fmt.Errorf("bundle layer has more than %d files", lim.MaxFiles)
		}
		if hdr.Size > lim.MaxFileBytes {
			return nil, fmt.Errorf("bundle layer entry %q is %d bytes (limit %d)", name, hdr.Size, lim.MaxFileBytes)
		}
		if total += hdr.Size; total > lim.MaxTreeBytes {
			return nil, fmt.Errorf("bundle layer holds more than %d bytes", lim.MaxTreeBytes)
		}
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, fmt.Errorf("reading %s from the bundle layer: %w", name, err)
		}
		files[name] = data
		if onFile != nil {
			onFile(name, data)
		}
	}
	// A file may not stand where another entry needs a directory.
	for p := range files {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := files[dir]; ok {
				return nil, fmt.Errorf("bundle layer has %q as both file and directory", dir)
			}
		}
	}
	return files, nil
}
