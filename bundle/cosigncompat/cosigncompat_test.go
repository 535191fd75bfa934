// Package cosigncompat checks Bulwark's signatures with cosign's own verification code.
package cosigncompat

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigstoresig "github.com/sigstore/sigstore/pkg/signature"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/verify"
)

// TestCosignVerifiesBulwarkSignatures signs a pushed bundle with a key from
// bulwark's key generation and verifies it with cosign.VerifyImageSignatures, the code
// behind `cosign verify --key cosign.pub --insecure-ignore-tlog`; cosign also reads the
// encrypted private key Bulwark wrote.
func TestCosignVerifiesBulwarkSignatures(t *testing.T) {
	ctx := context.Background()
	p, cat, err := pipeline.Load(filepath.Join("..", "..", "examples", "payments.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	signed, err := registryClient(t).Push(ctx, b, reg.Ref("policies/payments:1.0.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := pipeline.Build(p, cat, "1.1.0")
	unsigned, err := registryClient(t).Push(ctx, b2, reg.Ref("policies/payments:1.1.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := signature.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	// cosign's own key loader reads the private key Bulwark wrote.
	if _, err := cosign.LoadPrivateKey(priv, []byte("pw"), nil); err != nil {
		t.Fatalf("cosign cannot read Bulwark's private key: %v", err)
	}
	signer, err := signature.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.Sign(ctx, registryClient(t), signed, signer); err != nil {
		t.Fatal(err)
	}
	pubKey, err := cryptoutils.UnmarshalPEMToPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigstoresig.LoadVerifier(pubKey, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	check := func(d name.Digest) error {
		ref, err := name.ParseReference(d.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = cosign.VerifyImageSignatures(ctx, ref, &cosign.CheckOpts{
			SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier,
		})
		return err
	}
	if err := check(signed); err != nil {
		t.Fatalf("cosign refuses Bulwark's signature: %v", err)
	}
	if err := check(unsigned); err == nil {
		t.Fatal("cosign accepted an unsigned bundle")
	}
}

// registryClient is a registry client with the default options.
func registryClient(t testing.TB) *oci.Client {
	t.Helper()
	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCosignVerifiesBulwarkEvidence attaches a verification record (evidence.Push) to a
// pushed bundle and checks it with cosign.VerifyImageAttestations, the code behind `cosign
// verify-attestation --key cosign.pub --insecure-ignore-tlog`, with cosign's in-toto subject
// check: cosign accepts both statements with the right key, and refuses them with another.
// The record's OCI 1.1 referrer, found with cosign's referrers client (the API on olareg,
// the tag schema on Distribution), passes the same verification.
func TestCosignVerifiesBulwarkEvidence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		referrers bool
	}{{"tag schema fallback", false}, {"referrers API", true}} {
		t.Run(tc.name, func(t *testing.T) { cosignVerifiesEvidence(t, tc.referrers) })
	}
}

func cosignVerifiesEvidence(t *testing.T, referrersAPI bool) {
	ctx := context.Background()
	p, cat, err := pipeline.Load(filepath.Join("..", "..", "examples", "payments.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{Referrers: referrersAPI})
	d, err := registryClient(t).Push(ctx, b, reg.Ref("policies/payments:1.0.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := signature.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	r := &verify.Report{Cluster: "prod-eu", Converged: true, CheckedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		Bundle: verify.BundleRef{Profile: "payments-soc2", Version: "1.0.0", Digest: d.DigestStr(), Framework: "soc2", Catalogue: cat.Version}}
	st, err := evidence.New(r, b, evidence.Options{ResourceURI: "oci://" + d.Context().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.Push(ctx, registryClient(t), d, st, signer); err != nil {
		t.Fatal(err)
	}
	check := func(pubPEM []byte) (int, error) {
		pubKey, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		verifier, err := sigstoresig.LoadVerifier(pubKey, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(d.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		co := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier}
		atts, _, err := cosign.VerifyImageAttestations(ctx, ref, co)
		if err != nil {
			return len(atts), err
		}
		// The referrer: listed by cosign's referrers client, its envelopes read as cosign
		// reads an attestation image, and verified by the same code.
		dg := ref.(name.Digest)
		idx, err := ociremote.Referrers(dg, signature.AttestationArtifactType)
		if err != nil {
			return 0, err
		}
		if len(idx.Manifests) != 1 {
			return 0, fmt.Errorf("%d attestation referrers, want 1", len(idx.Manifests))
		}
		h, err := v1.NewHash(dg.DigestStr())
		if err != nil {
			return 0, err
		}
		referred, err := ociremote.Signatures(dg.Context().Digest(idx.Manifests[0].Digest.String()))
		if err != nil {
			return 0, err
		}
		fromReferrer, _, err := cosign.VerifyImageAttestation(ctx, referred, h, co)
		if err != nil {
			return 0, fmt.Errorf("the referrer: %w", err)
		}
		if len(fromReferrer) != len(atts) {
			return 0, fmt.Errorf("%d attestations in the referrer, %d in the tag", len(fromReferrer), len(atts))
		}
		return len(atts), nil
	}
	if n, err := check(pub); err != nil || n != 2 {
		t.Fatalf("cosign verify-attestation: %d attestations, %v; want the summary and the detail", n, err)
	}
	_, otherPub, err := signature.GenerateKeyPair([]byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := check(otherPub); err == nil {
		t.Fatalf("cosign accepted %d attestations with another key", n)
	}

	// One byte changed in the detail envelope (cosign's tag rewritten by someone with push
	// rights but not the key): cosign accepts only the untouched summary.
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".att")
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	layers, _ := img.Layers()
	var rebuilt v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m.Layers[i].Annotations[signature.PredicateAnnotation] == evidence.PredicateType {
			at := bytes.Index(body, []byte(`"payload":"`)) + len(`"payload":"`) + 40
			if body[at] == 'A' {
				body[at] = 'B'
			} else {
				body[at] = 'A'
			}
		}
		if rebuilt, err = mutate.Append(rebuilt, mutate.Addendum{Layer: static.NewLayer(body, m.Layers[i].MediaType), Annotations: m.Layers[i].Annotations}); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(tag, rebuilt); err != nil {
		t.Fatal(err)
	}
	pubKey, _ := cryptoutils.UnmarshalPEMToPublicKey(pub)
	verifier, _ := sigstoresig.LoadVerifier(pubKey, crypto.SHA256)
	ref, _ := name.ParseReference(d.String(), name.Insecure)
	atts, _, err := cosign.VerifyImageAttestations(ctx, ref, &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier})
	if err != nil || len(atts) != 1 {
		t.Fatalf("cosign after one byte of the detail changed: %d attestations, %v; want the summary alone", len(atts), err)
	}
	if pt, _ := atts[0].Annotations(); pt[signature.PredicateAnnotation] != evidence.VSAPredicateType {
		t.Errorf("cosign accepted %v, not the summary", pt)
	}
}
