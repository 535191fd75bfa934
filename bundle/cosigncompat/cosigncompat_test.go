// Package cosigncompat checks Bulwark's signatures with cosign's own verification code.
package cosigncompat

import (
	"context"
	"crypto"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
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
func TestCosignVerifiesBulwarkEvidence(t *testing.T) {
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
		atts, _, err := cosign.VerifyImageAttestations(ctx, ref, &cosign.CheckOpts{
			SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier,
		})
		return len(atts), err
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
}
