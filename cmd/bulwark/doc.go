// Command bulwark turns a compliance profile into a versioned OCI bundle of Kubernetes
// policies and proves that clusters have converged on it.
package main
