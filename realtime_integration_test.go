package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

// TestIntegrationRealtimeSeesIngest subscribes to the objects collection
// over PocketBase's realtime API, as a JS client would, and checks that an
// upload and a delete in MinIO arrive as create and delete events.
func TestIntegrationRealtimeSeesIngest(t *testing.T) {
	s := teststack.Start(t, "demo")
	token := superuserToken(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/api/realtime", nil)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	events := readServerSentEvents(response)

	connect := <-events
	var hello struct {
		ClientID string `json:"clientId"`
	}
	if err := json.Unmarshal([]byte(connect.data), &hello); err != nil || hello.ClientID == "" {
		t.Fatalf("first realtime event %+v: %v", connect, err)
	}
	subscribe, _ := json.Marshal(map[string]any{"clientId": hello.ClientID, "subscriptions": []string{"objects"}})
	postJSON(t, "http://"+s.HTTPAddr+"/api/realtime", token, subscribe)

	s.Put("demo", "live/hello world.txt", []byte("hi"), minio.PutObjectOptions{})
	created := waitRecordEvent(t, events, "create", "live/hello world.txt")
	s.Remove("demo", "live/hello world.txt", minio.RemoveObjectOptions{})
	deleted := waitRecordEvent(t, events, "delete", "live/hello world.txt")
	if created != deleted {
		t.Errorf("create for record %s, delete for record %s", created, deleted)
	}
}

type serverSentEvent struct {
	name string
	data string
}

func readServerSentEvents(response *http.Response) <-chan serverSentEvent {
	events := make(chan serverSentEvent, 64)
	go func() {
		defer close(events)
		scanner := bufio.NewScanner(response.Body)
		scanner.Buffer(make([]byte, 64<<10), 4<<20)
		var current serverSentEvent
		for scanner.Scan() {
			line := scanner.Text()
			switch {
			case line == "":
				if current.name != "" || current.data != "" {
					events <- current
				}
				current = serverSentEvent{}
			case strings.HasPrefix(line, "event:"):
				current.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				current.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	return events
}

// waitRecordEvent waits for an action on the key and returns the record id.
func waitRecordEvent(t *testing.T, events <-chan serverSentEvent, action, key string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case event, ok := <-events:
			if !ok {
				t.Fatalf("realtime stream closed while waiting for %s of %q", action, key)
			}
			var message struct {
				Action string `json:"action"`
				Record struct {
					ID  string `json:"id"`
					Key string `json:"key"`
				} `json:"record"`
			}
			if json.Unmarshal([]byte(event.data), &message) == nil &&
				message.Action == action && message.Record.Key == key {
				return message.Record.ID
			}
		case <-timeout:
			t.Fatalf("no realtime %s event for %q", action, key)
		}
	}
}

func superuserToken(t *testing.T, s *teststack.Stack) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"identity": s.Secrets.SuperuserEmail, "password": s.Secrets.SuperuserPassword})
	response := postJSON(t, "http://"+s.HTTPAddr+"/api/collections/_superusers/auth-with-password", "", body)
	var auth struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(response, &auth); err != nil || auth.Token == "" {
		t.Fatalf("superuser login: %s", response)
	}
	return auth.Token
}

func postJSON(t *testing.T, url, token string, body []byte) []byte {
	t.Helper()
	request, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	if token != "" {
		request.Header.Set("Authorization", token)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(response.Body)
	if response.StatusCode >= 300 {
		t.Fatalf("POST %s: %s: %s", url, response.Status, out.String())
	}
	return out.Bytes()
}
