package signature

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/bundle/internal/bundletest"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestSignAndVerifyAgainstRealRegistry signs a pushed bundle in cosign's format and checks
// that only the right key, over the right digest, verifies.
func TestSignAndVerifyAgainstRealRegistry(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	ctx := context.Background()
	priv, pub, err := GenerateKeyPair([]byte("pass phrase"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(priv, []byte("wrong")); exitcode.Of(err, 0) != exitcode.BadInput {
		t.Errorf("a wrong password: %v", err)
	}
	signer, err := LoadSigner(priv, []byte("pass phrase"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := GenerateKeyPair(nil)
	other, _ := LoadVerifier(otherPub)

	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := c.Push(ctx, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, "a")), reg.Ref("p:1.0.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := c.Push(ctx, bundletest.Bundle(t, "1.1.0", bundletest.DemoFiles(3, "b")), reg.Ref("p:1.1.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, c, signed, signer); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, c, signed, verifier); err != nil {
		t.Fatalf("a signed bundle does not verify: %v", err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrSignature) || exitcode.Of(err, 0) != exitcode.Failed {
			t.Errorf("%s: %v (exit %d), want a refused signature, exit 1", what, err, exitcode.Of(err, 0))
		}
	}
	refused("another key", Verify(ctx, c, signed, other))
	refused("unsigned", Verify(ctx, c, unsigned, verifier))

	// Copy the valid signature to the unsigned bundle's signature tag: the payload names the
	// signed digest, so it must not vouch for another artifact.
	sigImg, err := remote.Image(signatureTag(signed))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(signatureTag(unsigned), sigImg); err != nil {
		t.Fatal(err)
	}
	refused("a signature copied from another bundle", Verify(ctx, c, unsigned, verifier))

	// Signing again with a second key keeps the first signature.
	otherPriv, otherPub2, _ := GenerateKeyPair(nil)
	s2, _ := LoadSigner(otherPriv, nil)
	if err := Sign(ctx, c, signed, s2); err != nil {
		t.Fatal(err)
	}
	v2, _ := LoadVerifier(otherPub2)
	if Verify(ctx, c, signed, verifier) != nil || Verify(ctx, c, signed, v2) != nil {
		t.Error("a second signature replaced the first")
	}
}

// TestSignKeepsSignaturesItCannotRead: only a 404 means "no signatures yet". A registry that
// fails reading the signature image (500, 401) must fail the signing, not make it write an
// image holding only the new signature, which would drop every other key's.
func TestSignKeepsSignaturesItCannotRead(t *testing.T) {
	var failReads atomic.Int32
	host := bundletest.StartRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code := failReads.Load(); code != 0 && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256-") {
				w.WriteHeader(int(code))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	c, err := oci.New(oci.WithRetryBackoff(*bundletest.FastRetries))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Push(ctx, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(2, "a")), host+"/p:1.0.0", oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := func() (Signer, Verifier) {
		priv, pub, _ := GenerateKeyPair(nil)
		s, _ := LoadSigner(priv, nil)
		v, _ := LoadVerifier(pub)
		return s, v
	}
	s1, v1 := keys()
	if err := Sign(ctx, c, d, s1); err != nil {
		t.Fatal(err)
	}
	s2, v2 := keys()
	for _, code := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		failReads.Store(int32(code))
		if err := Sign(ctx, c, d, s2); err == nil {
			t.Errorf("HTTP %d reading the signatures: Sign succeeded", code)
		}
	}
	failReads.Store(0)
	if err := Verify(ctx, c, d, v1); err != nil {
		t.Errorf("the first signature was dropped: %v", err)
	}
	if err := Verify(ctx, c, d, v2); !errors.Is(err, ErrSignature) {
		t.Errorf("a signature written despite the failed read: %v", err)
	}
}
