package bundles

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

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

	signed, err := Push(ctx, testBundle(t, "1.0.0", demoFiles(3, "a")), reg.Ref("p:1.0.0"), PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := Push(ctx, testBundle(t, "1.1.0", demoFiles(3, "b")), reg.Ref("p:1.1.0"), PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, signed, signer, RemoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(ctx, signed, verifier, RemoteOptions{}); err != nil {
		t.Fatalf("a signed bundle does not verify: %v", err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrSignature) || exitcode.Of(err, 0) != exitcode.Failed {
			t.Errorf("%s: %v (exit %d), want a refused signature, exit 1", what, err, exitcode.Of(err, 0))
		}
	}
	refused("another key", VerifySignature(ctx, signed, other, RemoteOptions{}))
	refused("unsigned", VerifySignature(ctx, unsigned, verifier, RemoteOptions{}))

	// Copy the valid signature to the unsigned bundle's signature tag: the payload names the
	// signed digest, so it must not vouch for another artifact.
	sigImg, err := remote.Image(signatureTag(signed))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(signatureTag(unsigned), sigImg); err != nil {
		t.Fatal(err)
	}
	refused("a signature copied from another bundle", VerifySignature(ctx, unsigned, verifier, RemoteOptions{}))

	// Signing again with a second key keeps the first signature.
	otherPriv, otherPub2, _ := GenerateKeyPair(nil)
	s2, _ := LoadSigner(otherPriv, nil)
	if err := Sign(ctx, signed, s2, RemoteOptions{}); err != nil {
		t.Fatal(err)
	}
	v2, _ := LoadVerifier(otherPub2)
	if VerifySignature(ctx, signed, verifier, RemoteOptions{}) != nil || VerifySignature(ctx, signed, v2, RemoteOptions{}) != nil {
		t.Error("a second signature replaced the first")
	}
}
