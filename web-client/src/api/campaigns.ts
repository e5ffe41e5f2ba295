// Campaign operations: the audience preview, test sends, rescheduling, and the campaign
// fields of one notification (send time, audience, auto-pause).
import { graphql } from '../gql';

/** Who an audience selects now: the count and the first attendees. */
export const AudiencePreviewQuery = graphql(`
  query AudiencePreview($conferenceId: ID!, $audience: AudienceInput, $first: Int!) {
    audiencePreview(conferenceId: $conferenceId, audience: $audience) {
      count
      attendees(first: $first) {
        nodes {
          ...AttendeeName
        }
      }
    }
  }
`);

export const SendTestNotificationMutation = graphql(`
  mutation SendTestNotification($input: SendTestNotificationInput!) {
    sendTestNotification(input: $input) {
      subject
      recipients {
        address
        sent
        error
      }
    }
  }
`);

export const RescheduleNotificationMutation = graphql(`
  mutation RescheduleNotification($id: ID!, $sendAt: DateTime!) {
    rescheduleNotification(id: $id, sendAt: $sendAt) {
      id
      status
      sendAt
    }
  }
`);

export const NotificationCampaignQuery = graphql(`
  query NotificationCampaign($id: ID!) {
    notification(id: $id) {
      id
      status
      sendAt
      startedAt
      pausedReason
      audience {
        company
        jobPosition
        city
        state
        interestsContain
        registeredAfter
        registeredBefore
        attendeeIds
      }
      autoPause {
        failureRatio
        minimumAttempts
      }
    }
  }
`);
