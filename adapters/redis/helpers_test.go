package redis_test

import (
	goredis "github.com/redis/go-redis/v9"

	"strings"
	"time"

	"github.com/keygate/keygate/core/revocation"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func revEntry(key string) revocation.Entry {
	return revocation.Entry{Kind: revocation.KindToken, Key: key, ExpiresAt: time.Now().Add(time.Hour)}
}

func heartbeat() revocation.Event {
	return revocation.Event{Kind: revocation.EventHeartbeat, Seq: 1, PublishedAt: time.Now()}
}

// redisClient is go-redis's client interface.
type redisClient = goredis.UniversalClient
