// Switches for API that is announced but not yet in ../schema.graphql. When the server
// ships one, flip its flag; then move its operations from api/pending.ts into
// api/operations.ts so that codegen types (and checks) them like the rest.

export interface Features {
  /** `pauseNotification`, `resumeNotification`, `cancelNotification`, `retryFailedDeliveries`. */
  notificationControls: boolean;
  /** `previewNotification(conferenceId, attendeeId, subject, message)`. */
  serverPreview: boolean;
  /** `notificationProgress`, `notificationsChanged` and `attendeeRegistered` over /graphql/ws. */
  subscriptions: boolean;
}

export const FEATURES: Readonly<Features> = {
  notificationControls: false,
  serverPreview: false,
  subscriptions: false,
};
