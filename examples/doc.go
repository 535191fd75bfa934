// Package examples ships the example profiles inside the binary, so `bulwark demo` runs
// on a fresh machine with nothing but the binary.
package examples
