package privsep

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotOwned means a file root was about to read belongs to someone other
// than the expected owner: whoever owns it could have put anything there.
var ErrNotOwned = errors.New("not owned by the expected user")

// OpenNoFollow opens path for reading as root must open a path that a user
// may control: never through a symbolic link in its last component
// (O_NOFOLLOW), only a regular file (a FIFO or a device could block or
// have side effects), and only if owner owns it (checked on the open file,
// so a rename in between changes nothing).
func OpenNoFollow(path string, owner uint32) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: refused", path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file: refused", path)
	}
	if st.Uid != owner {
		unix.Close(fd)
		return nil, fmt.Errorf("%s (owner uid %d, want %d): %w", path, st.Uid, owner, ErrNotOwned)
	}
	return os.NewFile(uintptr(fd), path), nil
}
