import { describe, expect, it } from 'vitest';
import { matchRoute, navigate, searchParam } from './router';

describe('router', () => {
  it('matches patterns and decodes parameters', () => {
    expect(matchRoute('/register/:conferenceId', '/register/abc%20d')).toEqual({ conferenceId: 'abc d' });
    expect(matchRoute('/register/:conferenceId', '/register/abc/')).toEqual({ conferenceId: 'abc' });
    expect(matchRoute('/register/:conferenceId', '/register')).toBeNull();
    expect(matchRoute('/admin', '/admin?x=1')).toEqual({});
    expect(matchRoute('/', '/')).toEqual({});
    expect(matchRoute('/admin/notifications/:id', '/admin/conferences/x')).toBeNull();
    expect(matchRoute('/register/:id', '/register/%E0%A4%A')).toBeNull();
  });

  it('reads query parameters', () => {
    expect(searchParam('/admin/notifications/1?created=1', 'created')).toBe('1');
    expect(searchParam('/admin', 'created')).toBeNull();
  });

  it('navigates with the History API', () => {
    navigate('/admin/conferences/c1/attendees');
    expect(window.location.pathname).toBe('/admin/conferences/c1/attendees');
  });
});
