// Operations for API announced by the server team but not yet in ../schema.graphql: the
// subscriptions. Hand-typed, and excluded from codegen (see codegen.ts) so that they cannot
// break the build; every use is behind FEATURES.subscriptions.
//
// When an operation lands in the schema: move its document into api/operations.ts (wrapped
// in `graphql(...)`), delete its hand-written types here, and flip its flag.
import { gql } from '@urql/core';
import type { TypedDocumentNode } from '@urql/core';
import type { NotificationProgress, NotificationStatus } from '../lib/progress';

interface ChangedNotification {
  id: string;
  status: NotificationStatus;
  total: number;
  sent: number;
  failed: number;
  cancelled: number;
  pending: number;
}

const notificationFields = `id status total sent failed cancelled pending`;

export const NotificationProgressSubscription: TypedDocumentNode<
  { notificationProgress: NotificationProgress },
  { id: string }
> = gql`
  subscription NotificationProgress($id: ID!) {
    notificationProgress(id: $id) {
      notificationId
      status
      total
      sent
      failed
      cancelled
      pending
      ratePerSecond
      etaSeconds
      updatedAt
    }
  }
`;

export const NotificationsChangedSubscription: TypedDocumentNode<
  { notificationsChanged: ChangedNotification },
  { conferenceId: string | null }
> = gql`
  subscription NotificationsChanged($conferenceId: ID) {
    notificationsChanged(conferenceId: $conferenceId) { ${notificationFields} }
  }
`;

export const AttendeeRegisteredSubscription: TypedDocumentNode<
  { attendeeRegistered: { id: string; firstName: string; lastName: string } },
  { conferenceId: string }
> = gql`
  subscription AttendeeRegistered($conferenceId: ID!) {
    attendeeRegistered(conferenceId: $conferenceId) { id firstName lastName }
  }
`;
