package bundle

import (
	"fmt"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/canonyaml"
	"bulwark.dev/bulwark/profile"
)

// Header identifies a bundle and records what it was built from.
type Header struct {
	Profile   string
	Version   string
	Framework string
	Catalogue string
	// Scope is the defaulted profile spec, as the index records it.
	Scope profile.Spec
	// Controls are the controls the objects realise (plus verify-only ones), sorted by id.
	Controls []IndexControl
	// NotRealised are the enabled controls no object realises, with the reason, sorted by id.
	NotRealised []NotRealisedControl
}

// Object is one serialised object to place in a bundle.
type Object struct {
	// Path is where the object's file goes (ObjectPath).
	Path string
	// Data is the object's YAML.
	Data []byte
	// APIVersion, Kind, Namespace and Name identify the object.
	APIVersion, Kind, Namespace, Name string
	// Controls and TSC trace it, both sorted.
	Controls, TSC []string
}

// ObjectPath places an object: DIR/[NAMESPACE/]KIND-NAME.yaml, with the kind in lower case.
func ObjectPath(dir, kind, namespace, name string) string {
	file := strings.ToLower(kind) + "-" + name + ".yaml"
	if namespace != "" {
		return dir + "/" + namespace + "/" + file
	}
	return dir + "/" + file
}

// Assemble builds the bundle tree: every object's file, the index that lists them with their
// digests, and the kustomization that tells GitOps tools to apply exactly those files.
func Assemble(h Header, objects []Object) (*Bundle, error) {
	b := &Bundle{Files: map[string][]byte{}}
	idx := Index{
		APIVersion: IndexAPIVersion,
		Kind:       IndexKind,
		Metadata:   IndexMeta{Name: h.Profile},
		Spec: IndexSpec{
			Profile: h.Profile, Version: h.Version, Framework: h.Framework, Catalogue: h.Catalogue,
			Scope: h.Scope, Controls: h.Controls, NotRealised: h.NotRealised,
		},
	}
	for _, o := range objects {
		if !ValidPath(o.Path) || o.Path == IndexFile || o.Path == KustomizeFile {
			return nil, fmt.Errorf("%s %s: %q is not a path a bundle object may have", o.Kind, o.Name, o.Path)
		}
		if _, dup := b.Files[o.Path]; dup {
			return nil, fmt.Errorf("two objects map to %s: names must be unique per kind and namespace", o.Path)
		}
		b.Files[o.Path] = o.Data
		idx.Spec.Objects = append(idx.Spec.Objects, IndexObject{
			File: o.Path, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
			Controls: o.Controls, TSC: o.TSC, SHA256: SHA256(o.Data),
		})
	}
	sort.Slice(idx.Spec.Objects, func(i, j int) bool { return idx.Spec.Objects[i].File < idx.Spec.Objects[j].File })
	if err := checkClaims(idx.Spec); err != nil {
		return nil, err
	}
	b.Index = idx
	kust, err := Kustomization(b.ManifestPaths())
	if err != nil {
		return nil, err
	}
	b.Files[KustomizeFile] = kust
	index, err := marshalIndex(idx)
	if err != nil {
		return nil, fmt.Errorf("serialising the bundle index: %w", err)
	}
	b.Files[IndexFile] = index
	return b, nil
}

// kustomization is the kustomization.yaml of a bundle: its resources and nothing else.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// Kustomization is the kustomization.yaml that lists paths, so GitOps tools apply exactly
// those files and leave the index alone. It is part of the format: a bundle whose
// kustomization says anything else (patches, other resources, generators) is refused when
// read, since it would change what the cluster receives without the index knowing.
func Kustomization(paths []string) ([]byte, error) {
	return canonyaml.Marshal(kustomization{"kustomize.config.k8s.io/v1beta1", "Kustomization", paths})
}
