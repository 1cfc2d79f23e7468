package e2e

import (
	"context"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
)

// pushDelivery delivers pushes to a service worker through DevTools, as a
// push service would, and waits for what the worker shows.
//
// Once, on the CI machine (stop 16), headless Chromium showed nothing for a
// delivered push, and from then on for every push in that browser; it has
// not been reproduced since, under load or not. So a wait that sees nothing
// after half its time records the browser's state (the permission, and
// whether the worker can show a notification at all) in the log, delivers
// the last push once more, and fails with that state if still nothing shows.
type pushDelivery struct {
	t      *testing.T
	ctx    context.Context
	origin string
	reg    serviceworker.RegistrationID
	// eval evaluates an async expression where the registration is at
	// hand as `reg` (the page or the worker).
	eval func(expr string, out any) error
	last string
}

func (d *pushDelivery) push(data string) {
	d.t.Helper()
	d.last = data
	if _, err := chromedp.Call(d.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: d.origin, RegistrationID: d.reg, Data: data}); err != nil {
		d.t.Fatalf("deliver a push: %v", err)
	}
}

// await polls cond, a JavaScript predicate on the list `l` that list
// (an expression of the registration `reg`) yields, until it holds.
func (d *pushDelivery) await(list, cond string) {
	d.t.Helper()
	check := func() bool {
		var ok bool
		err := d.eval(`(`+list+`).then(l => Boolean((`+cond+`)(l)))`, &ok)
		return err == nil && ok
	}
	if d.poll(check, waitFor/2) {
		return
	}
	diag := d.state()
	d.t.Logf("after %s the worker shows nothing for %s; browser: %s; delivering the push again", waitFor/2, cond, diag)
	d.push(d.last)
	if d.poll(check, waitFor) {
		return
	}
	var got any
	_ = d.eval(list, &got)
	d.t.Fatalf("waited %s for notifications %s; shown: %+v; browser: %s", waitFor+waitFor/2, cond, got, d.state())
}

func (*pushDelivery) poll(check func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !check() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(40 * time.Millisecond)
	}
	return true
}

// state says what the browser thinks of notifications here: the
// permission, and what a notification shown directly does.
func (d *pushDelivery) state() string {
	var s string
	err := d.eval(`(async () => {
		const perm = typeof Notification === 'undefined' ? 'no Notification' : Notification.permission;
		let probe;
		try {
			await reg.showNotification('e2e probe', {tag: 'e2e-probe'});
			const ns = await reg.getNotifications({tag: 'e2e-probe'});
			probe = ns.length ? 'shown' : 'not listed';
			ns.forEach((n) => n.close());
		} catch (e) {
			probe = 'refused: ' + e;
		}
		return 'permission ' + perm + ', a direct notification ' + probe + ', worker ' + (reg.active ? reg.active.state : 'none');
	})()`, &s)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

// pairForPush pairs p with session s, waits for the service worker to take
// control, grants notifications to the app's origin, and returns a
// pushDelivery to that worker whose DevTools calls have within to run (the
// caller sets its eval: in the page or in the worker).
func pairForPush(t *testing.T, p *phone, srv *server, s session, within time.Duration) *pushDelivery {
	t.Helper()
	regCtx, cancelReg := context.WithTimeout(p.ctx, 3*waitFor)
	defer cancelReg()
	registrations := chromedp.Events(regCtx, serviceworker.WorkerRegistrationUpdated)
	p.pair(s)
	p.wait("the service worker in control", `navigator.serviceWorker.controller !== null`)
	var regID serviceworker.RegistrationID
	for ev, err := range registrations {
		if err != nil {
			t.Fatalf("service worker registrations: %v", err)
		}
		for _, r := range ev.Registrations {
			if r.ScopeURL == srv.URL+"/" && !r.IsDeleted {
				regID = r.RegistrationID
			}
		}
		if regID != "" {
			break
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, within)
	t.Cleanup(cancel)
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted,
		Origin: srv.URL, BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
	}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	return &pushDelivery{t: t, ctx: ctx, origin: srv.URL, reg: regID}
}
