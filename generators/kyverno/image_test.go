package kyverno

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"github.com/kyverno/api/api/policies.kyverno.io/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
)

// signCosign attaches a cosign key signature to the image at ref (the legacy
// sha256-<hex>.sig form that cosign verify and Kyverno read).
func signCosign(t *testing.T, key *ecdsa.PrivateKey, ref name.Digest) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": ref.Context().Name()},
			"image":    map[string]string{"docker-manifest-digest": ref.DigestStr()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	tag := ref.Context().Tag(strings.Replace(ref.DigestStr(), ":", "-", 1) + ".sig")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

func pushRandom(t *testing.T, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Context().Digest(d.String())
}

// TestKyvernoEngineVerifiesSignatures runs SUP-04's ImageValidatingPolicy with Kyverno's
// engine against a real registry: an image signed with the profile's key is admitted; an
// unsigned one, one signed with another key, and a signed one beside an unsigned init
// container are denied; images from registries SUP-04 has no key for are left to SUP-01.
func TestKyvernoEngineVerifiesSignatures(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	signed := pushRandom(t, reg.Ref("acme/app:signed"))
	signCosign(t, key, signed)
	unsigned := pushRandom(t, reg.Ref("acme/app:unsigned"))
	forged := pushRandom(t, reg.Ref("acme/app:forged"))
	signCosign(t, other, forged)

	p, _ := payments(t)
	p.Spec.Images = profile.Images{
		AllowedRegistries: []string{reg.Addr + "/acme/"},
		SignatureKeys:     []profile.SignatureKey{{Name: "release", PublicKey: pub}},
	}
	objs := imageSignatures(p, nil, "SUP-04")
	if len(objs) != 2 || objs[1].GetName() != objs[0].GetName()+"-ephemeralcontainers" {
		t.Fatalf("SUP-04 objects %v, want the pods policy and its pods/ephemeralcontainers companion", objs)
	}
	ivp := objs[0].(*kyvernov1.ImageValidatingPolicy)
	// The test registry speaks plain HTTP on loopback; production registries use TLS.
	ivp.Spec.Credentials = &v1alpha1.Credentials{AllowInsecureRegistry: true}
	e := newEngine(t)
	policy := e.write(t, generated.Object{Object: ivp})
	pod := func(name string, containers, initContainers, ephemeralContainers []string) (string, string) {
		spec := map[string]any{}
		for field, images := range map[string][]string{"containers": containers, "initContainers": initContainers, "ephemeralContainers": ephemeralContainers} {
			var list []any
			for i, img := range images {
				list = append(list, map[string]any{"name": fmt.Sprintf("c%d", i), "image": img})
			}
			if list != nil {
				spec[field] = list
			}
		}
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": spec}}
		obj.SetName(name)
		obj.SetNamespace("payments")
		return e.resource(t, obj)
	}
	// An image outside the allowed registries is SUP-01's business: SUP-04 has no key for it.
	foreign := "docker.io/library/busybox@sha256:" + strings.Repeat("b", 64)
	cases := []struct {
		name                            string
		containers, initConts, ephConts []string
		want                            string
	}{
		{"signed", []string{signed.String()}, nil, nil, "pass"},
		{"unsigned", []string{unsigned.String()}, nil, nil, "fail"},
		{"forged", []string{forged.String()}, nil, nil, "fail"},
		{"signed with an unsigned init container", []string{signed.String()}, []string{unsigned.String()}, nil, "fail"},
		{"signed with a signed init container", []string{signed.String()}, []string{signed.String()}, nil, "pass"},
		{"signed with an unsigned ephemeral container", []string{signed.String()}, nil, []string{unsigned.String()}, "fail"},
		{"signed with a signed ephemeral container", []string{signed.String()}, nil, []string{signed.String()}, "pass"},
		{"foreign registry only", []string{foreign}, nil, nil, "pass"},
	}
	var files []string
	keys := map[string]string{}
	for i, tc := range cases {
		path, key := pod(fmt.Sprintf("pod-%d", i), tc.containers, tc.initConts, tc.ephConts)
		files = append(files, path)
		keys[tc.name] = key
	}
	res := e.apply(t, []string{policy}, files, nil)
	verdicts := res.Verdicts()
	for _, tc := range cases {
		if got := verdicts[keys[tc.name]]; got != tc.want {
			t.Errorf("%s: Kyverno says %q, want %q (all: %v)", tc.name, got, tc.want, verdicts)
		}
	}
	// A denial must name the control, so the team knows which rule refused the Pod.
	for _, row := range res.Results {
		if row.Result == "fail" && !strings.Contains(row.Message, "SUP-04") {
			t.Errorf("%s denied with %q, which does not name SUP-04", row.Name, row.Message)
		}
	}
}
