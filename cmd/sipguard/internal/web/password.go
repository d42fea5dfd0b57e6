package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters of a password hash.
type Argon2Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultArgon2 is what a new password is hashed with: 64 MiB, which
// the box has to spare while it protects, and two passes (the time a
// hash takes is in docs/BENCHMARKS.md). The server hashes one password
// at a time.
var DefaultArgon2 = Argon2Params{Time: 2, Memory: 64 << 10, Threads: 2}

// maxArgon2Memory bounds what a stored hash may ask for (KiB): a damaged
// or forged state file cannot make a login take the box's memory.
const maxArgon2Memory = 256 << 10

// MinPassword is the shortest password the dashboard takes.
const MinPassword = 10

// maxPassword bounds what is hashed.
const maxPassword = 1024

// commonPasswords are refused whatever their length: the ones an
// attacker tries first.
var commonPasswords = map[string]bool{
	"1234567890": true, "0123456789": true, "12345678910": true, "123456789a": true, "1234567890a": true,
	"qwertyuiop": true, "1q2w3e4r5t": true, "1qaz2wsx3edc": true, "qwertyuiop123": true, "asdfghjkl1": true,
	"password12": true, "password123": true, "password1234": true, "passw0rd123": true, "p@ssw0rd123": true,
	"administrator": true, "admin12345": true, "admin123456": true, "adminadmin": true, "letmein123": true,
	"iloveyou12": true, "welcome123": true, "changeme123": true, "sipguard123": true, "sipguard1234": true,
	"1111111111": true, "0000000000": true, "aaaaaaaaaa": true, "abcdefghij": true, "abc1234567": true,
	"trustno1234": true, "football123": true, "baseball123": true, "superman123": true, "princess123": true,
}

// ErrWeakPassword marks a password refused by the policy.
var ErrWeakPassword = errors.New("password refused")

// CheckPolicy says why a new password is refused, or nil.
func CheckPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPassword:
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPassword)
	case len(pw) > maxPassword:
		return fmt.Errorf("%w: at most %d bytes", ErrWeakPassword, maxPassword)
	case commonPasswords[strings.ToLower(pw)]:
		return fmt.Errorf("%w: a common password, among the first an attacker tries", ErrWeakPassword)
	case strings.Count(pw, string([]rune(pw)[0])) == len(pw):
		return fmt.Errorf("%w: one character repeated", ErrWeakPassword)
	}
	return nil
}

// HashPassword hashes pw with argon2id and a random salt, in the PHC
// string format: $argon2id$v=19$m=65536,t=2,p=2$salt$hash.
func HashPassword(pw string, p Argon2Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// VerifyPassword says whether pw matches hash; a hash it cannot read is
// an error.
func VerifyPassword(pw, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errors.New("password hash: not an argon2id hash")
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("password hash: parameters: %w", err)
	}
	if p.Memory == 0 || p.Memory > maxArgon2Memory || p.Time == 0 || p.Time > 10 || p.Threads == 0 {
		return false, fmt.Errorf("password hash: parameters %q out of bounds", parts[3])
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(want) == 0 || len(pw) > maxPassword {
		return false, errors.New("password hash: damaged")
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
