package push

import (
	"context"
	"testing"

	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// TestMain provides PostgreSQL to the tests below: a throwaway server, or
// the one OBSERVABLE_TEST_POSTGRES_URL names.
func TestMain(m *testing.M) { pgtest.Main(m) }

func openPostgres(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenPostgres(context.Background(), url, sqlstore.PostgresOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Several instances share one PostgreSQL database: they agree on the VAPID
// keys when starting together, and SKIP LOCKED claims hand each job to one.
func TestInstancesOnPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	dbs := []*sqlstore.DB{openPostgres(t, url), openPostgres(t, url), openPostgres(t, url)}

	startTogetherAgreeOnKeys(t, []Store{dbs[0], dbs[1], dbs[2]})

	e := newEnvOn(t, dbs[0], Options{})
	deliverOnceWithTwo(t, e, e.newService(dbs[1], Options{}, e.push))
}
