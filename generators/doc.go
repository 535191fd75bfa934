// Package generators turns a validated profile and the control catalogue into a bundle:
// it runs every target generator, stamps each object with the labels and annotations that
// trace it to its controls, serialises it deterministically, and writes the bundle index.
package generators
