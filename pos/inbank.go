package pos

import (
	"encoding/json"
	"time"
)

// Inbank e-POS, Partner API v3 (seed 001; ../shared/spec/pos-sessions.md).
//
//	POST /partner/v3/shops/{shopUuid}/pos-sessions         create: 201 {uuid, status, redirectUrl}
//	GET  /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}  read: the session and its status
//
// Both take "Authorization: Bearer <API key>". Errors are {"message": …}: 401 "unauthorized",
// 403 "User is not authorized to access this resource with an explicit deny", 404 "not_found",
// 500 "internal_server_error".

// InbankStatus is a POS session's status. Only StatusCompleted means paid (approved and
// signed); the other final statuses mean the customer will not pay through this session.
//
//	pending ──► granted ──► completed
//	   │           │
//	   └───────────┴──► cancelled (customer) | declined (Inbank) | expired (validUntil passed)
//
// granted is optional: a session may go from pending to completed directly.
type InbankStatus string

// The statuses of a POS session.
const (
	StatusPending   InbankStatus = "pending"
	StatusGranted   InbankStatus = "granted"
	StatusCompleted InbankStatus = "completed"
	StatusCancelled InbankStatus = "cancelled"
	StatusDeclined  InbankStatus = "declined"
	StatusExpired   InbankStatus = "expired"
)

// InbankStatuses lists every status, in life-cycle order.
func InbankStatuses() []InbankStatus {
	return []InbankStatus{StatusPending, StatusGranted, StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired}
}

// Known reports whether s is one of the statuses above.
func (s InbankStatus) Known() bool {
	switch s {
	case StatusPending, StatusGranted, StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired:
		return true
	}
	return false
}

// IsFinal reports whether s can never change again: completed, cancelled, declined, expired.
func (s InbankStatus) IsFinal() bool {
	switch s {
	case StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired:
		return true
	}
	return false
}

// Asset types (rentalApplicationData.assets[].type); CATEGORY_BASED is the default.
const (
	AssetModelBased    = "MODEL_BASED"
	AssetCategoryBased = "CATEGORY_BASED"
)

// Asset category codes (rentalApplicationData.assets[].categoryCode). CategoryCopyingFee is
// accepted only for Latvia (a locale whose country is LV).
const (
	CategoryAddOn       = "add_on"
	CategoryCopyingFee  = "copying_fee"
	CategoryShippingFee = "shipping_fee"
)

// InbankSessionRequest is the body of a create-session call (seed 001). Optional members are
// left out when zero; validate with ValidateSessionRequest (CreateSession always does).
type InbankSessionRequest struct {
	ProductCode string `json:"productCode,omitempty"`
	Currency    string `json:"currency,omitempty"` // "EUR"
	Locale      string `json:"locale,omitempty"`   // language-country, e.g. "et-EE"
	// ValidUntil is when the session expires; zero leaves it to Inbank.
	ValidUntil          time.Time          `json:"validUntil,omitzero"`
	UserIP              string             `json:"userIp,omitempty"`
	CustomerData        *InbankCustomer    `json:"customerData,omitempty"`
	CustomerContactData *InbankContact     `json:"customerContactData,omitempty"`
	Purchase            InbankPurchase     `json:"purchase"`
	RentalApplication   InbankRental       `json:"rentalApplicationData"`
	PartnerURLs         *InbankPartnerURLs `json:"partnerUrls,omitempty"`
	IntegrationInfo     json.RawMessage    `json:"integrationInfo,omitempty"` // a string or an object
	AdditionalData      json.RawMessage    `json:"additionalData,omitempty"`  // a string or an object
}

// InbankCustomer pre-fills the application (customerData); all but Gender are required when
// it is sent.
type InbankCustomer struct {
	IdentityCode string `json:"identityCode,omitempty"`
	FirstName    string `json:"firstName,omitempty"`
	LastName     string `json:"lastName,omitempty"`
	Gender       string `json:"gender,omitempty"` // "m" or "f"
}

// InbankContact pre-fills the customer's contacts (customerContactData); both are required
// when it is sent.
type InbankContact struct {
	Email  string `json:"email,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// InbankPurchase describes the order; Description is required.
type InbankPurchase struct {
	PurchaseReference string           `json:"purchaseReference,omitempty"`
	Description       string           `json:"description,omitempty"`
	AdditionalDetails json.RawMessage  `json:"additionalDetails,omitempty"` // an object
	Merchant          []InbankMerchant `json:"merchant,omitempty"`
}

// InbankMerchant is one merchant supplying the purchase; both fields are required.
type InbankMerchant struct {
	MerchantOrderReference string `json:"merchantOrderReference,omitempty"`
	MerchantDomainName     string `json:"merchantDomainName,omitempty"`
}

// InbankRental is rentalApplicationData: the assets (hero device first) and the period.
type InbankRental struct {
	// InsuranceUsed defaults to true at Inbank when nil.
	InsuranceUsed         *bool         `json:"insuranceUsed,omitempty"`
	GrossCampaignDiscount *float64      `json:"grossCampaignDiscount,omitempty"`
	GrossTradeInAmount    *float64      `json:"grossTradeInAmount,omitempty"`
	Assets                []InbankAsset `json:"assets,omitempty"`
	Period                int           `json:"period"` // months
}

// InbankAsset is one rented item. The first is the hero device: MODEL_BASED with a ModelID.
type InbankAsset struct {
	Type         string  `json:"type,omitempty"` // AssetModelBased or AssetCategoryBased (default)
	ModelID      string  `json:"modelId,omitempty"`
	ModelName    string  `json:"modelName,omitempty"`
	CategoryCode string  `json:"categoryCode,omitempty"` // required for CATEGORY_BASED
	NetPrice     float64 `json:"netPrice"`               // without VAT
}

// InbankPartnerURLs are where Inbank sends the customer back, and the server-to-server
// callback URL. ReturnURL and CancelURL are required when it is sent.
type InbankPartnerURLs struct {
	ReturnURL   string `json:"returnUrl,omitempty"`
	CancelURL   string `json:"cancelUrl,omitempty"`
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// InbankSessionCreated is the 201 reply of a create-session call.
type InbankSessionCreated struct {
	UUID        string       `json:"uuid"`
	Status      InbankStatus `json:"status"`
	RedirectURL string       `json:"redirectUrl"`
}

// InbankSession is a POS session as GET shows it. The credit UUIDs appear once Inbank has an
// application (granted, declined) or a contract (granted, completed).
type InbankSession struct {
	UUID                  string       `json:"uuid"`
	Status                InbankStatus `json:"status"`
	CreditApplicationUUID string       `json:"creditApplicationUuid,omitempty"`
	CreditContractUUID    string       `json:"creditContractUuid,omitempty"`
	ValidUntil            time.Time    `json:"validUntil,omitzero"`
	RedirectURL           string       `json:"redirectUrl,omitempty"`
}
