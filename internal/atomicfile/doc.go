// Package atomicfile writes files and directory trees so that a reader sees either the old
// content or the new, never a half-written file, and a failure leaves nothing behind.
package atomicfile
