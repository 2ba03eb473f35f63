package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked means another process (or another DB in this one) has the
// store open. Two writers would fight over series ids and retry failing
// commits for ever, so the second is refused.
var ErrLocked = errors.New("store is in use by another process")

// lock takes an exclusive advisory lock on path+".lock", which is left in
// place when released: removing it would race with the next opener.
func lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (lock %s.lock is held)", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s.lock: %w", path, err)
	}
	return f, nil
}
