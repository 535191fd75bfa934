//go:build !linux

package bundle

// openTree opens a bundle tree for reading.
func openTree(dir string) (treeFS, error) { return openTreePortable(dir) }
