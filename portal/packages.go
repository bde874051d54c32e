package portal

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Package is a Delivery Room package as the portal knows it.
type Package struct {
	Key            string   `json:"key"`
	PackageID      string   `json:"packageId"`
	InstanceID     string   `json:"instanceId"`
	GroupNamespace string   `json:"groupNamespace"`
	GroupID        string   `json:"groupId"`
	RecipientIDs   []string `json:"recipientIds"`
}

// Invitation is the decision, made when a package event is answered, that one portal user (the
// one with the recipient's e-mail) may open one recipient of one package. Its link signs that
// user in (Secret.InvitationToken) until Expires, unless revoked; revoking the link does not
// take the recipient away from the user.
type Invitation struct {
	ID          string
	PackageKey  string
	RecipientID string
	Role        string
	UserID      string
	Created     time.Time
	Expires     time.Time
	Revoked     bool
}

// NewInvitationID is a fresh random invitation id.
func NewInvitationID() string { return randomID(12) }

func validInvitationID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// invitationMarker stands for an invitation's token in a stored answer. Nothing else in an
// answer can hold it: ids are fresh random hex, and names in the e-mail are HTML-escaped.
func invitationMarker(id string) string { return "{{invitation " + id + "}}" }

// PackageRecord is what answering a package event decided, kept once per package key: the
// package, its invitations, and the answer with every invitation token replaced by its marker.
type PackageRecord struct {
	Package     Package
	Invitations []Invitation
	Answer      []byte
}

// SealAnswer replaces each invitation's token in answer by its marker: what is stored.
func SealAnswer(answer []byte, invs []Invitation, sec *Secret) []byte {
	for _, inv := range invs {
		answer = bytes.ReplaceAll(answer, []byte(sec.InvitationToken(inv.ID)), []byte(invitationMarker(inv.ID)))
	}
	return answer
}

// AnswerWithLinks is the stored answer with each invitation's token back in place: the same
// bytes the first answer had, as long as the secret's first value is the same.
func (r PackageRecord) AnswerWithLinks(sec *Secret) []byte {
	a := r.Answer
	for _, inv := range r.Invitations {
		a = bytes.ReplaceAll(a, []byte(invitationMarker(inv.ID)), []byte(sec.InvitationToken(inv.ID)))
	}
	return a
}

// SavePackage keeps a package's record unless its key has one already, and returns the stored
// record: the first event of a key decides, a resend gets its answer. One transaction, so a
// record is whole or absent.
func (s *Store) SavePackage(ctx context.Context, rec PackageRecord) (PackageRecord, bool, error) {
	p := rec.Package
	ids, err := json.Marshal(p.RecipientIDs)
	if err != nil {
		return PackageRecord{}, false, fmt.Errorf("portal: save package: %w", err)
	}
	first := false
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now().UTC()
		res, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO package_answers (package_key, answer, created_at) VALUES (?, ?, ?) ON CONFLICT (package_key) DO NOTHING`),
			p.Key, string(rec.Answer), now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // answered before: that answer stands
		}
		first = true
		// A package row may be left from a version that saved it before the answer.
		if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO portal_packages (package_key, package_id, instance_id, group_namespace, group_id, recipient_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_key) DO NOTHING`),
			p.Key, p.PackageID, p.InstanceID, p.GroupNamespace, p.GroupID, string(ids), now); err != nil {
			return err
		}
		for _, inv := range rec.Invitations {
			if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO portal_invitations (id, package_key, recipient_id, user_id, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				inv.ID, p.Key, inv.RecipientID, inv.UserID, inv.Role, inv.Created.UTC(), inv.Expires.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return PackageRecord{}, false, fmt.Errorf("portal: save package: %w", err)
	}
	stored, err := s.PackageRecord(ctx, p.Key)
	return stored, first, err
}

// PackageRecord returns the record of a package key, or ErrNotFound.
func (s *Store) PackageRecord(ctx context.Context, key string) (PackageRecord, error) {
	var rec PackageRecord
	var answer, ids string
	err := s.db.QueryRowContext(ctx, s.db.Q(`SELECT a.answer, p.package_id, p.instance_id, p.group_namespace, p.group_id, p.recipient_ids
		FROM package_answers a JOIN portal_packages p ON p.package_key = a.package_key WHERE a.package_key = ?`), key).
		Scan(&answer, &rec.Package.PackageID, &rec.Package.InstanceID, &rec.Package.GroupNamespace, &rec.Package.GroupID, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return PackageRecord{}, ErrNotFound
	}
	if err != nil {
		return PackageRecord{}, fmt.Errorf("portal: read package: %w", err)
	}
	rec.Package.Key, rec.Answer = key, []byte(answer)
	if err := json.Unmarshal([]byte(ids), &rec.Package.RecipientIDs); err != nil {
		return PackageRecord{}, fmt.Errorf("portal: read package: recipient ids: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.db.Q(`SELECT id, package_key, recipient_id, role, user_id, created_at, expires_at, revoked_at FROM portal_invitations WHERE package_key = ? ORDER BY id`), key)
	if err != nil {
		return PackageRecord{}, fmt.Errorf("portal: read invitations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var inv Invitation
		var revoked sql.NullTime
		if err := rows.Scan(&inv.ID, &inv.PackageKey, &inv.RecipientID, &inv.Role, &inv.UserID, &inv.Created, &inv.Expires, &revoked); err != nil {
			return PackageRecord{}, fmt.Errorf("portal: read invitations: %w", err)
		}
		inv.Revoked = revoked.Valid
		rec.Invitations = append(rec.Invitations, inv)
	}
	if err := rows.Err(); err != nil {
		return PackageRecord{}, fmt.Errorf("portal: read invitations: %w", err)
	}
	return rec, nil
}

// Authorize finds the package a portal user may open as recipientID: the one, among the
// packages with this packageId, whose invitation for that recipient names the user. One query
// decides, so an unknown package, a recipient that is not one and another user's recipient
// look alike (ErrNotFound); ErrAmbiguous when the user is invited as that recipient under the
// same packageId in more than one loan.
func (s *Store) Authorize(ctx context.Context, packageID, recipientID, userID string) (Package, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Q(`SELECT p.package_key, p.package_id, p.instance_id, p.group_namespace, p.group_id
		FROM portal_invitations i JOIN portal_packages p ON p.package_key = i.package_key
		WHERE p.package_id = ? AND i.recipient_id = ? AND i.user_id = ? LIMIT 2`), packageID, recipientID, userID)
	if err != nil {
		return Package{}, fmt.Errorf("portal: authorize: %w", err)
	}
	defer rows.Close()
	var found []Package
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.Key, &p.PackageID, &p.InstanceID, &p.GroupNamespace, &p.GroupID); err != nil {
			return Package{}, fmt.Errorf("portal: authorize: %w", err)
		}
		found = append(found, p)
	}
	if err := rows.Err(); err != nil {
		return Package{}, fmt.Errorf("portal: authorize: %w", err)
	}
	switch len(found) {
	case 0:
		return Package{}, ErrNotFound
	case 1:
		return found[0], nil
	default:
		return Package{}, ErrAmbiguous
	}
}

// Bind binds a package's recipient to a user, permanently: the first user wins, and binding
// the same user again is a no-op. A recipient bound to someone else gives ErrBoundToOther.
// Race-safe: the primary key decides between concurrent binders.
func (s *Store) Bind(ctx context.Context, packageKey, recipientID, userID string) error {
	if _, err := s.db.ExecContext(ctx, s.db.Q(`INSERT INTO recipient_bindings (package_key, recipient_id, user_id, bound_at) VALUES (?, ?, ?, ?) ON CONFLICT (package_key, recipient_id) DO NOTHING`),
		packageKey, recipientID, userID, s.now().UTC()); err != nil {
		return fmt.Errorf("portal: bind: %w", err)
	}
	owner, err := s.BoundUser(ctx, packageKey, recipientID)
	if err != nil {
		return err
	}
	if owner != userID {
		return ErrBoundToOther
	}
	return nil
}

// BoundUser returns the user a recipient is bound to, or ErrNotFound.
func (s *Store) BoundUser(ctx context.Context, packageKey, recipientID string) (string, error) {
	var owner string
	err := s.db.QueryRowContext(ctx, s.db.Q(`SELECT user_id FROM recipient_bindings WHERE package_key = ? AND recipient_id = ?`), packageKey, recipientID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("portal: read binding: %w", err)
	}
	return owner, nil
}

// UserPackage is a recipient a portal user was invited for, as their portal page lists it.
type UserPackage struct {
	PackageID   string
	RecipientID string
	Role        string
	Invited     time.Time
	// Opened: the recipient is bound to this user (they opened the Delivery Room as it).
	Opened bool
}

// MaxUserPackages bounds the list of a user's packages.
const MaxUserPackages = 200

// UserPackages lists the recipients a user was invited for, newest first, at most
// MaxUserPackages.
func (s *Store) UserPackages(ctx context.Context, userID string) ([]UserPackage, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Q(`SELECT p.package_id, i.recipient_id, i.role, i.created_at, b.user_id
		FROM portal_invitations i
		JOIN portal_packages p ON p.package_key = i.package_key
		LEFT JOIN recipient_bindings b ON b.package_key = i.package_key AND b.recipient_id = i.recipient_id
		WHERE i.user_id = ? ORDER BY i.created_at DESC, p.package_id, i.recipient_id LIMIT ?`), userID, MaxUserPackages)
	if err != nil {
		return nil, fmt.Errorf("portal: list packages: %w", err)
	}
	defer rows.Close()
	var out []UserPackage
	for rows.Next() {
		var p UserPackage
		var bound sql.NullString
		if err := rows.Scan(&p.PackageID, &p.RecipientID, &p.Role, &p.Invited, &bound); err != nil {
			return nil, fmt.Errorf("portal: list packages: %w", err)
		}
		p.Opened = bound.Valid && bound.String == userID
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("portal: list packages: %w", err)
	}
	return out, nil
}
