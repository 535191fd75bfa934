package bundle

import (
	"fmt"

	"bulwark.dev/bulwark/profile"
)

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
	// Controls are the controls the bundle realises, with their TSC points, sorted by id:
	// each is named by at least one object's bulwark.dev/controls annotation, or is checked
	// by verify alone (realisedBy: verify). Only these, and only their TSC points, are
	// claimed anywhere: summaries, validate, diff, the OCI annotation dev.bulwark.controls.
	Controls []IndexControl `json:"controls"`
	// NotRealised are the controls the profile enables but the bundle does not realise,
	// sorted by id, each with the reason the generator that skipped it gave (e.g. no
	// sensitive tier). Verify does not check them.
	NotRealised []NotRealisedControl `json:"notRealised,omitempty"`
	// Objects are every object in the bundle, sorted by file.
	Objects []IndexObject `json:"objects"`
}

// IndexControl is a control the bundle realises.
type IndexControl struct {
	ID    string   `json:"id"`
	Title string   `json:"title"`
	TSC   []string `json:"tsc"`
	// Enforcement is Enforce or Audit for admission controls, empty otherwise.
	Enforcement string `json:"enforcement,omitempty"`
	// Probe says what verify checks.
	Probe string `json:"probe,omitempty"`
}

// NotRealisedControl is an enabled control the bundle holds nothing for, and why.
type NotRealisedControl struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Reason says what the profile would need for the control to be realised, e.g.
	// "no sensitive tier: spec.namespaces.sensitive selects nothing".
	Reason string `json:"reason"`
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

// checkClaims holds an index to claiming what its objects realise: every control an object
// names is listed among the controls, and no control is both listed and not realised. (A
// listed control no object names is verify-only; the catalogue, not the bundle, knows which
// those are.)
func checkClaims(s IndexSpec) error {
	listed := map[string]bool{}
	for _, c := range s.Controls {
		listed[c.ID] = true
	}
	for _, n := range s.NotRealised {
		if listed[n.ID] {
			return fmt.Errorf("%s lists control %s both as realised and as not realised", IndexFile, n.ID)
		}
	}
	for _, o := range s.Objects {
		for _, id := range o.Controls {
			if !listed[id] {
				return fmt.Errorf("%s: %s realises control %s, which the index's controls do not list", IndexFile, o.File, id)
			}
		}
	}
	return nil
}
