package main

import (
	"bufio"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/operator"
)

// cmdKey is `rackwatch key new NAME` (an operator's signing key), `rackwatch key fingerprint FILE` and
// `rackwatch key password FILE USER` (a user of the embedded broker).
func cmdKey(args []string) int { return keyCmd(args, os.Stdin, os.Stdout, os.Stderr) }

func keyCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, `usage: rackwatch key new NAME [--dir DIR]
       rackwatch key fingerprint FILE
       rackwatch key password FILE USER    (the password is read from standard input)

new writes an operator's key pair: NAME.key (private, mode 0600: it stays with the operator) and NAME.pub
(public: list it in each gateway's config under operators:, or copy it into operators_dir).
fingerprint prints the SHA-256 fingerprint of a public or private key, as rackwatch check shows it.
password adds or replaces USER's line (a bcrypt hash) in the embedded broker's password file.`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	sub := args[0]
	fs := flag.NewFlagSet("key "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "directory for the key files")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	switch {
	case sub == "new" && len(pos) == 1:
		priv, pub, err := operator.NewKeyFiles(*dir, pos[0])
		if err != nil {
			fmt.Fprintln(stderr, "rackwatch key new:", err)
			return 1
		}
		pk, _ := operator.ReadPublicKey(pub)
		abs, _ := filepath.Abs(pub)
		fmt.Fprintf(stdout, "wrote %s (private: keep it with %s, never copy it to a gateway)\n", priv, pos[0])
		fmt.Fprintf(stdout, "wrote %s (public, %s)\n\n", pub, operator.Fingerprint(pk))
		fmt.Fprintf(stdout, "On each gateway %s may command, copy %s to /etc/rackwatch/operators/ and list it:\n\n", pos[0], filepath.Base(pub))
		fmt.Fprintf(stdout, "operators:\n  - {name: %s, public_key_file: /etc/rackwatch/operators/%s}\n\n", pos[0], filepath.Base(abs))
		fmt.Fprintf(stdout, "or set operators_dir: /etc/rackwatch/operators (every NAME.pub there is operator NAME), then reload.\n")
		fmt.Fprintf(stdout, "Then: rackwatch ack -b URL --gateway ID --key %s ALARM\n", priv)
		return 0
	case sub == "fingerprint" && len(pos) == 1:
		pk, err := operator.ReadPublicKey(pos[0])
		if err != nil {
			sk, kerr := operator.ReadPrivateKey(pos[0])
			if kerr != nil {
				fmt.Fprintf(stderr, "rackwatch key fingerprint: %s: %v\n", pos[0], err)
				return 1
			}
			pk = sk.Public().(ed25519.PublicKey)
		}
		fmt.Fprintf(stdout, "%s %s\n", operator.Fingerprint(pk), pos[0])
		return 0
	case sub == "password" && len(pos) == 2:
		return keyPassword(pos[0], pos[1], stdin, stdout, stderr)
	}
	return usage()
}

// keyPassword sets user's line in the password file (made, mode 0600, when missing), keeping the others.
func keyPassword(path, user string, stdin io.Reader, stdout, stderr io.Writer) int {
	pw, _ := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	pw = strings.TrimRight(pw, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "rackwatch key password: no password on standard input (echo or pipe it in, or type it and press Enter)")
		return 2
	}
	line, err := brokerauth.Hash(user, []byte(pw))
	if err != nil {
		fmt.Fprintln(stderr, "rackwatch key password:", err)
		return 2
	}
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(stderr, "rackwatch key password:", err)
		return 1
	}
	var out []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if u, _, ok := strings.Cut(l, ":"); ok && u == user {
			l, replaced = line, true
		}
		if l != "" {
			out = append(out, l)
		}
	}
	if !replaced {
		out = append(out, line)
	}
	if _, err := brokerauth.Parse(path, []byte(strings.Join(out, "\n"))); err != nil {
		fmt.Fprintln(stderr, "rackwatch key password: the file has other problems, left as it is:", err)
		return 1
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		fmt.Fprintln(stderr, "rackwatch key password:", err)
		return 1
	}
	if st, err := os.Stat(path); err == nil {
		os.Chmod(tmp, st.Mode().Perm()) // keep the mode (and so the group's read) the file had
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		fmt.Fprintln(stderr, "rackwatch key password:", err)
		return 1
	}
	verb := "added"
	if replaced {
		verb = "replaced"
	}
	fmt.Fprintf(stdout, "%s %s in %s\n", verb, user, path)
	return 0
}
