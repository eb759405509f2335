package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"
)

func TestObjectDetail(t *testing.T) {
	var presigned []string
	env := newTestEnv(t, Options{Presign: func(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
		presigned = append(presigned, bucket+"/"+key+"@"+ttl.String())
		return "http://127.0.0.1:9/" + bucket + "/" + key + "?X-Amz-Signature=abc", nil
	}})
	image := env.object("demo", "cats/<b>tom</b>.jpg", "image", 2048, map[string]any{
		"user_metadata": map[string]any{"owner": "ann", "note": "<script>alert(1)</script>"},
	})
	doc := env.object("private", "plan.pdf", "document", 1, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	res := env.get("/ui/objects/"+image.Id, user)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	mustContain(t, res.body,
		`cats/&lt;b&gt;tom&lt;/b&gt;.jpg`,
		`<img src="http://127.0.0.1:9/demo/cats/%3cb%3etom%3c/b%3e.jpg?X-Amz-Signature=abc"`,
		"2.0 KiB (2048 bytes)",
		`&#34;owner&#34;: &#34;ann&#34;`,
		`&lt;script&gt;`,
		`href="/_/#/collections?collection=objects&amp;record=`+image.Id+`"`,
		`sse-connect="/ui/events?view=object&id=`+image.Id+`"`,
	)
	mustNotContain(t, res.body, "<script>alert")
	if len(presigned) != 1 || presigned[0] != "demo/cats/<b>tom</b>.jpg@10m0s" {
		t.Errorf("presigned %v", presigned)
	}

	// Documents get no presigned link: nothing would show it.
	res = env.get("/ui/objects/"+doc.Id, user)
	mustContain(t, res.body, "No preview for document objects")

	// A record the view rule hides looks the same as a missing one.
	objects, _ := env.app.FindCollectionByNameOrId("objects")
	objects.ViewRule = types.Pointer("bucket = 'demo'")
	if err := env.app.Save(objects); err != nil {
		t.Fatal(err)
	}
	hidden := env.get("/ui/objects/"+doc.Id, user)
	missing := env.get("/ui/objects/nosuchid", user)
	if hidden.status != http.StatusNotFound || missing.status != http.StatusNotFound {
		t.Errorf("hidden %d, missing %d, want 404 both", hidden.status, missing.status)
	}
	mustNotContain(t, hidden.body, "plan.pdf")

	// The fragment a reconnect fetches says when the object is gone.
	if err := env.app.Delete(image); err != nil {
		t.Fatal(err)
	}
	mustContain(t, env.get("/ui/objects/"+image.Id+"/body", user).body, "This object was deleted")
}

func TestObjectDetailWithoutPresign(t *testing.T) {
	env := newTestEnv(t, Options{})
	image := env.object("demo", "a.jpg", "image", 1, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	mustContain(t, env.get("/ui/objects/"+image.Id, user).body, "Previews are not configured")
}
