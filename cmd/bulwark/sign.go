package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/internal/atomicfile"
	"bulwark.dev/bulwark/internal/exitcode"
)

// keyPassword is the private key's password, from COSIGN_PASSWORD as cosign reads it.
func keyPassword() []byte { return []byte(os.Getenv("COSIGN_PASSWORD")) }

// newKeyPassword is the password a new private key is encrypted with: $COSIGN_PASSWORD when
// set (even empty, as cosign reads it), else asked twice on a terminal. Without a terminal
// it is refused rather than silently writing an unencrypted key, unless --no-password.
func newKeyPassword(cmd *cobra.Command, noPassword bool) ([]byte, error) {
	if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
		return []byte(pw), nil
	}
	if noPassword {
		return nil, nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, usageErrorf("COSIGN_PASSWORD is not set and there is no terminal to ask for a password: set it, or pass --no-password for an unencrypted key")
	}
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return pw, err
	}
	pw, err := ask("Enter password for private key: ")
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	again, err := ask("Enter password for private key again: ")
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	if string(pw) != string(again) {
		return nil, usageErrorf("the passwords do not match")
	}
	return pw, nil
}

func loadSigner(path string) (signature.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the signing key: %w", err))
	}
	return signature.LoadSigner(data, keyPassword())
}

func loadVerifier(path string) (signature.Verifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the public key: %w", err))
	}
	return signature.LoadVerifier(data)
}

// NewCmdKeys groups key management.
func NewCmdKeys() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage signing keys (cosign's format)",
		Example: `  COSIGN_PASSWORD=... bulwark keys generate --output-key-prefix release`}
	var prefix string
	var force, noPassword bool
	gen := &cobra.Command{
		Use:   "generate [--output-key-prefix cosign]",
		Short: "Write a key pair in cosign's format: PREFIX.key (encrypted with $COSIGN_PASSWORD) and PREFIX.pub",
		Example: `  COSIGN_PASSWORD=... bulwark keys generate
  bulwark push --from out oci://ghcr.io/acme/policies/p:1.0.0 --sign-key cosign.key
  cosign verify --key cosign.pub --insecure-ignore-tlog ghcr.io/acme/policies/p:1.0.0`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyFile, pubFile := prefix+".key", prefix+".pub"
			for _, f := range []string{keyFile, pubFile} {
				if _, err := os.Stat(f); err == nil && !force {
					return usageErrorf("%s exists; pass --force to overwrite it", f)
				}
			}
			password, err := newKeyPassword(cmd, noPassword)
			if err != nil {
				return err
			}
			priv, pub, err := signature.GenerateKeyPair(password)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(keyFile, priv, 0o600); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(pubFile, pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (private, keep it secret) and %s\n", keyFile, pubFile)
			_, err = fmt.Fprintln(cmd.OutOrStdout(), pubFile)
			return err
		},
	}
	gen.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "file name prefix of the key pair")
	gen.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	gen.Flags().BoolVar(&noPassword, "no-password", false, "write the private key unencrypted (when $COSIGN_PASSWORD is unset)")
	cmd.AddCommand(gen)
	return cmd
}

// NewCmdSign signs a pushed bundle.
func NewCmdSign() *cobra.Command {
	var rf remoteFlags
	var key string
	cmd := &cobra.Command{
		Use:   "sign REGISTRY/REPO:TAG|@DIGEST --key cosign.key",
		Short: "Attach a cosign signature to a pushed bundle",
		Long: `Sign resolves the reference to its digest and attaches a cosign key signature that
cosign verify and Flux's OCIRepository verification accept. The key's password is read from
$COSIGN_PASSWORD.`,
		Example: `  bulwark sign oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.key`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usageErrorf("a signing key is required: --key cosign.key")
			}
			signer, err := loadSigner(key)
			if err != nil {
				return err
			}
			c, err := rf.client(cmd, true)
			if err != nil {
				return err
			}
			d, err := c.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := signature.Sign(cmd.Context(), c, d, signer); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), d)
			return err
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&key, "key", "", "cosign private key (password from $COSIGN_PASSWORD)")
	return cmd
}
