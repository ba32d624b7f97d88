package fileref

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/settings"
)

// Need is what the agent does with a path.
type Need int

const (
	// Read: a file the agent reads.
	Read Need = iota
	// List: a directory the agent reads files from.
	List
	// Write: a directory the agent creates and writes files in.
	Write
)

// Ref is one path a config names.
type Ref struct {
	// File and Line locate the key in the config.
	File string
	Line int
	// Key is the key that names the path, as the user wrote it: "password_file".
	Key string
	// Path is the path as the agent will open it.
	Path string
	Need Need
	// Secret marks a file only the agent may read (a password, a private key).
	Secret bool
	// MayBeMissing: the agent creates the path when it is missing (its state directory).
	MayBeMissing bool
	// Authority marks a file or directory that grants power (an operator's public key, the directory of
	// them): whoever can change it can make themselves an operator, so only root or the service user may.
	Authority bool
}

// User is whom the paths are checked for.
type User struct {
	// Name is for messages ("rackwatch"); empty for this process.
	Name string
	UID  uint32
	// GIDs are the user's groups, its primary group first.
	GIDs []uint32
	// emulate: judge by owner, group and mode bits instead of asking the kernel (access(2)), because
	// the check runs as another user (root) than the agent will.
	emulate bool
}

// Process is the user this process runs as: paths are checked by asking the kernel.
func Process() *User {
	u := &User{UID: uint32(os.Geteuid()), GIDs: []uint32{uint32(os.Getegid())}}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			if !slices.Contains(u.GIDs, uint32(g)) {
				u.GIDs = append(u.GIDs, uint32(g))
			}
		}
	}
	return u
}

// As is another user, for a check that runs as root on behalf of the service user: paths are judged by
// their owner, group and mode bits (access control lists are not consulted).
func As(name string, uid uint32, gids []uint32) *User {
	return &User{Name: name, UID: uid, GIDs: gids, emulate: true}
}

func (u *User) who() string {
	if u.Name != "" {
		return "user " + u.Name
	}
	return "this user (uid " + strconv.Itoa(int(u.UID)) + ")"
}

// Check checks every ref for u. errs are problems the agent would fail on; warns are risks it would run
// with (a secret others can read). Both carry FILE:LINE.
func Check(refs []Ref, u *User) (errs, warns settings.Errors) {
	for _, r := range refs {
		if r.Path == "" {
			continue
		}
		e, w := check(r, u)
		if e != "" {
			errs.Add(r.File, r.Line, "%s %s: %s", r.Key, r.Path, e)
		}
		if w != "" {
			warns.Add(r.File, r.Line, "warning: %s %s: %s", r.Key, r.Path, w)
		}
	}
	return errs, warns
}

func check(r Ref, u *User) (problem, warning string) {
	st, err := os.Stat(r.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && r.MayBeMissing:
		return "", ""
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist", ""
	case err != nil:
		return "cannot be reached: " + errors.Unwrap(err).Error(), ""
	}
	switch {
	case r.Need == Read && !st.Mode().IsRegular():
		return "is not a regular file", ""
	case r.Need != Read && !st.IsDir():
		return "is not a directory", ""
	}
	if why := u.denied(r.Path, r.Need); why != "" {
		return why, ""
	}
	if r.Secret {
		return "", u.exposed(st)
	}
	if r.Authority {
		return "", u.writable(st)
	}
	return "", ""
}

// writable says who besides u and root can change a file or directory that grants power, or "".
func (u *User) writable(st fs.FileInfo) string {
	mode := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	switch {
	case mode&0o002 != 0:
		return fmt.Sprintf("every user can change it (mode %04o), and so make themselves an operator; chmod o-w it", mode)
	case mode&0o020 != 0 && sys.Gid != 0:
		return fmt.Sprintf("group %s can change it (mode %04o), and so make its members operators; chmod g-w it", group(sys.Gid), mode)
	case sys.Uid != u.UID && sys.Uid != 0:
		return fmt.Sprintf("owned by %s, who can change it and so make anyone an operator; give it to root", userName(sys.Uid))
	}
	return ""
}

// Permission bits for the three classes, in the order owner, group, others.
const (
	bitR = 4
	bitW = 2
	bitX = 1
)

func (n Need) bits() (int, string) {
	switch n {
	case List:
		return bitR | bitX, "list"
	case Write:
		return bitW | bitX, "write in"
	}
	return bitR, "read"
}

// denied says why u cannot do what the agent needs with path, or "".
func (u *User) denied(path string, n Need) string {
	bits, verb := n.bits()
	if !u.emulate {
		if err := syscall.Access(path, uint32(bits)); err != nil {
			return fmt.Sprintf("%s cannot %s it: %v", u.who(), verb, err)
		}
		return ""
	}
	// Every directory on the way must let u through (x), then the path itself must allow what is needed.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "cannot be reached: " + err.Error()
	}
	real, _ = filepath.Abs(real)
	for d := filepath.Dir(real); ; d = filepath.Dir(d) {
		if !u.may(d, bitX) {
			return fmt.Sprintf("%s cannot reach it: directory %s does not let it through", u.who(), d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if !u.may(real, bits) {
		return fmt.Sprintf("%s cannot %s it (%s)", u.who(), verb, owner(real))
	}
	return ""
}

// may reports whether u has all of bits on path by the owner, group and mode bits, as the kernel decides
// without access control lists: the owner's class applies to the owner only, the group's to members.
func (u *User) may(path string, bits int) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; the agent will say
	}
	mode := int(st.Mode().Perm())
	if u.UID == 0 {
		// root reads and writes anything; it executes (traverses) when any x bit is set.
		return bits&bitX == 0 || mode&0o111 != 0 || st.IsDir()
	}
	var class int
	switch {
	case sys.Uid == u.UID:
		class = mode >> 6
	case slices.Contains(u.GIDs, sys.Gid):
		class = mode >> 3
	default:
		class = mode
	}
	return class&bits == bits
}

// exposed says who besides u can read a secret, or "". Its owner is u or root; a group may read it only
// when it is u's own group (root:rackwatch 0640 is the usual way to let the service read a secret it
// cannot change).
func (u *User) exposed(st fs.FileInfo) string {
	mode := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	switch {
	case mode&0o004 != 0:
		return fmt.Sprintf("a secret readable by every user (mode %04o); chmod o-rwx it", mode)
	case mode&0o040 != 0 && sys.Gid != 0 && (len(u.GIDs) == 0 || sys.Gid != u.GIDs[0]):
		return fmt.Sprintf("a secret readable by group %s (mode %04o); chmod g-rwx it, or give it to the service's own group", group(sys.Gid), mode)
	case sys.Uid != u.UID && sys.Uid != 0:
		return fmt.Sprintf("a secret owned by %s, who can read and replace it; give it to root or to the service user", userName(sys.Uid))
	}
	return ""
}

func owner(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return st.Mode().String()
	}
	return fmt.Sprintf("%s %s:%s", st.Mode().Perm(), userName(sys.Uid), group(sys.Gid))
}
