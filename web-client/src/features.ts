// Switches for API that is announced but not yet in ../schema.graphql. When the server
// ships one, flip its flag; then move its operations from api/pending.ts into
// api/operations.ts so that codegen types (and checks) them like the rest.

export interface Features {
  /** `notificationProgress`, `notificationsChanged` and `attendeeRegistered` over /graphql/ws. */
  subscriptions: boolean;
}

export const FEATURES: Readonly<Features> = {
  subscriptions: false,
};
