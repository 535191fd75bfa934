package bundle

import "bulwark.dev/bulwark/profile"

// The bundle index identity. The index is Kubernetes-shaped so that every YAML file in a
// bundle decodes as a Kubernetes object; the bundle's kustomization.yaml leaves it out of
// what GitOps tools apply.
const (
	IndexAPIVersion = "bulwark.dev/v1alpha1"
	IndexKind       = "BundleIndex"
	IndexFile       = "bulwark.yaml"
	KustomizeFile   = "kustomization.yaml"
)

// Index is the bundle's table of contents, and everything verify needs to judge a cluster
// without the profile or the generators: the scope, the exceptions, and every object.
type Index struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Metadata   IndexMeta `json:"metadata"`
	Spec       IndexSpec `json:"spec"`
}

// IndexMeta names the index after its profile.
type IndexMeta struct {
	Name string `json:"name"`
}

// IndexSpec is the body of the index.
type IndexSpec struct {
	// Profile is the profile name.
	Profile string `json:"profile"`
	// Version is the bundle version (semver).
	Version string `json:"version"`
	// Framework is the compliance framework, e.g. soc2.
	Framework string `json:"framework"`
	// Catalogue is the control catalogue version the bundle was built from.
	Catalogue string `json:"catalogue"`
	// Scope is the profile spec, defaulted: namespaces, mesh, network, exceptions.
	Scope profile.Spec `json:"scope"`
	// Controls are the controls in force, with their TSC points, sorted by id.
	Controls []IndexControl `json:"controls"`
	// Objects are every object in the bundle, sorted by file.
	Objects []IndexObject `json:"objects"`
}

// IndexControl is a control in force.
type IndexControl struct {
	ID    string   `json:"id"`
	Title string   `json:"title"`
	TSC   []string `json:"tsc"`
	// Enforcement is Enforce or Audit for admission controls, empty otherwise.
	Enforcement string `json:"enforcement,omitempty"`
	// Probe says what verify checks.
	Probe string `json:"probe,omitempty"`
}

// IndexObject is one object file in the bundle.
type IndexObject struct {
	File       string   `json:"file"`
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Name       string   `json:"name"`
	Controls   []string `json:"controls"`
	TSC        []string `json:"tsc"`
	// SHA256 is the hex digest of the file's bytes.
	SHA256 string `json:"sha256"`
}
