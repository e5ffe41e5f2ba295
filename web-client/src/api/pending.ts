// Operations for API announced by the server team but not yet in ../schema.graphql, with
// hand-written types. This file is excluded from codegen (see codegen.ts), so it cannot
// break the build; each use is behind a flag in features.ts.
//
// When an operation lands in the schema: move its document into api/operations.ts (wrapped
// in `graphql(...)`), delete its hand-written types here, and flip its flag.
import { gql } from '@urql/core';
import type { TypedDocumentNode } from '@urql/core';
import type { NotificationProgress, NotificationStatus } from '../lib/progress';

interface ControlResult {
  id: string;
  status: NotificationStatus;
  total: number;
  sent: number;
  failed: number;
  cancelled: number;
  pending: number;
}

type ControlDocument<K extends string> = TypedDocumentNode<Record<K, ControlResult>, { id: string }>;

const controlFields = `id status total sent failed cancelled pending`;

export const PauseNotificationMutation: ControlDocument<'pauseNotification'> = gql`
  mutation PauseNotification($id: ID!) { pauseNotification(id: $id) { ${controlFields} } }
`;
export const ResumeNotificationMutation: ControlDocument<'resumeNotification'> = gql`
  mutation ResumeNotification($id: ID!) { resumeNotification(id: $id) { ${controlFields} } }
`;
export const CancelNotificationMutation: ControlDocument<'cancelNotification'> = gql`
  mutation CancelNotification($id: ID!) { cancelNotification(id: $id) { ${controlFields} } }
`;
export const RetryFailedDeliveriesMutation: ControlDocument<'retryFailedDeliveries'> = gql`
  mutation RetryFailedDeliveries($id: ID!) { retryFailedDeliveries(id: $id) { ${controlFields} } }
`;

export interface NotificationPreview {
  subject: string;
  body: string;
}

export const PreviewNotificationQuery: TypedDocumentNode<
  { previewNotification: NotificationPreview },
  { conferenceId: string; attendeeId: string | null; subject: string; message: string }
> = gql`
  query PreviewNotification($conferenceId: ID!, $attendeeId: ID, $subject: String!, $message: String!) {
    previewNotification(conferenceId: $conferenceId, attendeeId: $attendeeId, subject: $subject, message: $message) {
      subject
      body
    }
  }
`;

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
  { notificationsChanged: ControlResult },
  { conferenceId: string | null }
> = gql`
  subscription NotificationsChanged($conferenceId: ID) {
    notificationsChanged(conferenceId: $conferenceId) { ${controlFields} }
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
