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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
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
// unsigned one and one signed with another key are denied.
func TestKyvernoEngineVerifiesSignatures(t *testing.T) {
	cli := testenv.KyvernoCLI(t)
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

	cat, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())["payments"]
	p.Spec.Images = profile.Images{
		AllowedRegistries: []string{reg.Addr + "/acme/"},
		SignatureKeys:     []profile.SignatureKey{{Name: "release", PublicKey: pub}},
	}
	ivp := imageSignatures(p, "SUP-04")
	// The test registry speaks plain HTTP on loopback; production registries use TLS.
	ivp.Spec.Credentials = credentialsInsecure()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := writePolicy(t, dir, meta.Object{Object: ivp})
	pod := func(name string, image name.Digest) string {
		path := filepath.Join(dir, "pod-"+name+".yaml")
		body := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: payments}\nspec:\n  containers:\n  - {name: app, image: %q}\n", name, image.String())
		os.WriteFile(path, []byte(body), 0o644)
		return path
	}
	results := kyvernoApply(t, cli, dir, []string{policy}, nil, []string{pod("signed", signed), pod("unsigned", unsigned), pod("forged", forged)})
	t.Logf("Kyverno results: %v", results)
	for name, want := range map[string]string{"payments/signed": "pass", "payments/unsigned": "fail", "payments/forged": "fail"} {
		if results[name] != want {
			t.Errorf("%s: Kyverno says %q, want %q (all results: %v)", name, results[name], want, results)
		}
	}
}
