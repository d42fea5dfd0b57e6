package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ReplaceLists replaces the allow list, the deny list and the permanent
// bans with the ones given, in one transaction: a restore. If any entry or
// ban is invalid nothing is written. The ban history, the dynamic bans and
// the attack log stay as they are.
func (s *Store) ReplaceLists(allow, deny []Entry, permanent []Ban) error {
	for _, l := range [][]Entry{allow, deny} {
		for i, e := range l {
			if err := checkPrefix(i, e.Prefix); err != nil {
				return err
			}
		}
	}
	for i, p := range permanent {
		if err := checkPrefix(i, p.Prefix); err != nil {
			return err
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, l := range []struct {
			bucket  []byte
			entries []Entry
		}{{bucketAllow, allow}, {bucketDeny, deny}} {
			b, err := emptied(tx, l.bucket)
			if err != nil {
				return err
			}
			for _, e := range l.entries {
				v, err := json.Marshal(e)
				if err != nil {
					return err
				}
				if err := b.Put(key(e.Prefix), v); err != nil {
					return err
				}
			}
		}
		if _, err := emptied(tx, bucketPermanent); err != nil {
			return err
		}
		return putPermanent(tx, permanent)
	})
	if err != nil {
		return fmt.Errorf("replace the lists and permanent bans: %w", err)
	}
	return nil
}

// emptied deletes a bucket and creates it again, empty.
func emptied(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if err := tx.DeleteBucket(name); err != nil {
		return nil, err
	}
	return tx.CreateBucket(name)
}
