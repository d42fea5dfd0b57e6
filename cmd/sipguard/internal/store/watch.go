package store

// Watch tells f of the events every transaction adds to the attack log,
// once it is committed, whoever wrote them (the detection, an unban, an
// admin's change). f must not block or keep the slice. Watch is called
// before the store is used.
func (s *Store) Watch(f func([]Event)) { s.watch = f }
