package ports

import "time"

// Clock tells the time. The core never calls time.Now; tests use a fake.
type Clock interface {
	Now() time.Time
}
