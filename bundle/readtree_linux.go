package bundle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"sort"

	"golang.org/x/sys/unix"
)

// openTree opens a bundle tree to be read with plain system calls: every file is opened
// relative to the tree's directory and read with open/fstat/read/close, where the os
// package adds a poller registration and flag queries to each (a fleet-size tree is 4,000
// files of 2 KB, so the calls are the cost); the walk reads directory entries itself, one
// directory open at a time. Results and errors are the portable reader's (openTreePortable).
func openTree(dir string) (treeFS, error) {
	root, err := openNoEINTR(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return &sysTree{root: root}, nil
}

// sysTree is treeFS with system calls, relative to the tree's directory descriptor.
type sysTree struct{ root int }

func (t *sysTree) close() { unix.Close(t.root) }

func (t *sysTree) walk(fn func(rel string) error) error {
	w := walker{root: t.root, buf: make([]byte, 8<<10), fn: fn}
	return w.dir("")
}

func (t *sysTree) read(rel string, buf []byte) ([]byte, error) { return readAt(t.root, rel, buf) }

// walker calls fn with a tree's regular files in path order.
type walker struct {
	root int
	buf  []byte
	fn   func(rel string) error
}

type dirent struct {
	name  string
	dtype uint8
}

// dir lists the directory rel ("" for the root) and then its subdirectories, depth first.
// Its descriptor is closed before the subdirectories are opened, so a walk holds one.
func (w *walker) dir(rel string) error {
	entries, err := w.list(rel)
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := childPath(rel, e.name)
		switch e.dtype {
		case unix.DT_DIR:
			if err := w.dir(child); err != nil {
				return err
			}
		case unix.DT_REG:
			if err := w.fn(child); err != nil {
				return err
			}
		default:
			return errNotRegular(child)
		}
	}
	return nil
}

// list reads a directory's entries (without . and ..), with their types, in walk order.
func (w *walker) list(rel string) ([]dirent, error) {
	name := rel
	if name == "" {
		name = "."
	}
	fd, err := openNoEINTR(w.root, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, errNotRegular(rel) // swapped for a link or a file since it was listed
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var entries []dirent
	for {
		n, err := unix.Getdents(fd, w.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: name, Err: err}
		}
		if n <= 0 {
			break
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name NUL-terminated.
		for b := w.buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, &fs.PathError{Op: "readdirent", Path: name, Err: unix.EINVAL}
			}
			raw := b[19:reclen]
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			if s := string(raw); s != "." && s != ".." {
				entries = append(entries, dirent{name: s, dtype: b[18]})
			}
			b = b[reclen:]
		}
	}
	for i := range entries {
		if entries[i].dtype == unix.DT_UNKNOWN {
			if entries[i].dtype, err = statType(w.root, childPath(rel, entries[i].name)); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		return entryLess(a.name, a.dtype == unix.DT_DIR, b.name, b.dtype == unix.DT_DIR)
	})
	return entries, nil
}

// statType is the entry type of rel, not following a link, for file systems whose
// directory entries do not say.
func statType(root int, rel string) (uint8, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(root, rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, &fs.PathError{Op: "lstat", Path: rel, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR, nil
	case unix.S_IFREG:
		return unix.DT_REG, nil
	}
	return unix.DT_UNKNOWN, nil
}

// readAt reads the regular file rel below root, at most MaxFileBytes. It checks what it
// opened: a link is not followed, and a FIFO swapped in since the walk is not waited on.
func readAt(root int, rel string, buf []byte) ([]byte, error) {
	fd, err := openNoEINTR(root, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if errors.Is(err, unix.ELOOP) {
		return nil, errNotRegular(rel)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errNotRegular(rel)
	}
	if st.Size > MaxFileBytes {
		return nil, errFileTooBig(rel, st.Size)
	}
	return readAll(rel, st.Size, buf, func(p []byte) (int, error) {
		for {
			n, err := unix.Read(fd, p)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				return 0, &fs.PathError{Op: "read", Path: rel, Err: err}
			case n == 0:
				return 0, io.EOF
			}
			return n, nil
		}
	})
}

func openNoEINTR(dirfd int, path string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, path, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
