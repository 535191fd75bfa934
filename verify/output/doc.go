// Package output writes verify reports: one small interface, one file per format.
package output
