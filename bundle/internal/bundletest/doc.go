// Package bundletest builds bundles and registries for the tests of bundle/... .
package bundletest
