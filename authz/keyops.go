package authz

import (
	"fmt"
	"slices"
	"time"
)

// NewKeyOptions describe a key `tollgate keys new` creates.
type NewKeyOptions struct {
	ID       string
	Scopes   []string
	Tier     string
	Services []string
	Expires  time.Duration // 0: never
}

// AddKey creates a key in kf and returns its plaintext, which is shown
// once and stored nowhere.
func AddKey(kf *KeysFile, o NewKeyOptions, now time.Time) (string, error) {
	if kf.Find(o.ID) != nil {
		return "", fmt.Errorf("key %q already exists; use `tollgate keys rotate` for a new secret", o.ID)
	}
	plain, hash, err := NewKey(o.ID)
	if err != nil {
		return "", err
	}
	now = now.UTC().Truncate(time.Second)
	rec := &KeyRecord{ID: o.ID, Tier: o.Tier, Scopes: o.Scopes, Services: o.Services, Created: now,
		Secrets: []*KeySecret{{SHA256: hash, Created: now}}}
	if o.Expires > 0 {
		exp := now.Add(o.Expires)
		rec.Expires = &exp
	}
	kf.Keys = append(kf.Keys, rec)
	return plain, nil
}

// Revoke marks a key revoked from now on.
func Revoke(kf *KeysFile, id string, now time.Time) error {
	k := kf.Find(id)
	if k == nil {
		return fmt.Errorf("no key %q", id)
	}
	now = now.UTC().Truncate(time.Second)
	k.Revoked = &now
	return nil
}

// Rotate gives a key a new secret and returns it. The key's current
// secrets stay valid for overlap (so clients can switch without an
// outage), then expire; secrets already expired are dropped.
func Rotate(kf *KeysFile, id string, overlap time.Duration, now time.Time) (string, error) {
	k := kf.Find(id)
	if k == nil {
		return "", fmt.Errorf("no key %q", id)
	}
	if k.Status(now) == "revoked" {
		return "", fmt.Errorf("key %q is revoked; create a new key instead", id)
	}
	plain, hash, err := NewKey(id)
	if err != nil {
		return "", err
	}
	now = now.UTC().Truncate(time.Second)
	until := now.Add(overlap)
	k.Secrets = slices.DeleteFunc(k.Secrets, func(s *KeySecret) bool { return s.Expires != nil && !now.Before(*s.Expires) })
	for _, s := range k.Secrets {
		if s.Expires == nil || s.Expires.After(until) {
			s.Expires = &until
		}
	}
	k.Secrets = append(k.Secrets, &KeySecret{SHA256: hash, Created: now})
	return plain, nil
}
