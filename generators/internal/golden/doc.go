// Package golden compares generated objects with reviewed files under testdata/, and
// rewrites them with -update.
package golden
