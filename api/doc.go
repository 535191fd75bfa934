// Package api holds the names Bulwark's generators write and its verifier reads: the labels
// and annotations that trace a cluster object to its profile, version and controls, the
// bundle directories, and the kinds Bulwark generates. Defining them once keeps the writer
// and the reader of a cluster object from drifting apart.
//
// It imports nothing of Bulwark's, so every other package may import it.
package api
