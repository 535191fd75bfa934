// Package pipeline is Bulwark's main job as one call: a profile, read and validated against
// the control catalogue, becomes a bundle. The build, digest, push and demo commands and the
// tests that build example bundles all go through it, so there is one way a profile becomes
// a bundle.
package pipeline
