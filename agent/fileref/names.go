package fileref

import (
	"os/user"
	"strconv"
)

// Names for messages; numbers when the name service does not know them.

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

func group(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}

// Lookup returns the named user with its groups, for a check run as root on the service user's behalf;
// nil when there is no such user.
func Lookup(name string) *User {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil
	}
	gids := []uint32{uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil && uint32(g) != uint32(gid) {
				gids = append(gids, uint32(g))
			}
		}
	}
	return As(name, uint32(uid), gids)
}
