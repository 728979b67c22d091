/**
 * The demo catalogue and account data. Every service owns its slice (profiles own profiles,
 * ratings own ratings…); this module is only where the fixtures are written down once. Ids are
 * numeric so that paths like `/titles/42` template to `/titles/:id` by the point-id rule.
 */

export interface Title {
  readonly id: string;
  readonly title: string;
  readonly year: number;
  readonly maturity: string;
  /** Average rating over all members: the fallback when a personal prediction is unavailable. */
  readonly avgRating: number;
  readonly genres: readonly string[];
}

const T: [string, string, number, string, number, string[]][] = [
  ['40', 'Harbour Lights', 2016, '12', 3.9, ['drama']],
  ['41', 'The Quiet Orbit', 2021, '12', 4.3, ['sci-fi']],
  ['42', 'The Long Night', 2019, '16', 4.1, ['thriller', 'drama']],
  ['43', 'Salt and Stone', 2018, 'all', 3.7, ['documentary']],
  ['44', 'Paper Tigers', 2022, '12', 4.0, ['comedy']],
  ['45', 'Northbound', 2017, '16', 3.8, ['crime']],
  ['46', 'A Kitchen in Lisbon', 2020, 'all', 4.4, ['food', 'documentary']],
  ['47', 'Glasswork', 2023, '16', 4.2, ['thriller']],
  ['48', 'Small Hours', 2015, '12', 3.6, ['drama']],
  ['49', 'Tidewater', 2024, '12', 4.5, ['sci-fi', 'drama']],
  ['50', 'The Cartographers', 2019, 'all', 4.1, ['adventure']],
  ['51', 'Low Season', 2021, '12', 3.9, ['comedy']],
];

export const TITLES: ReadonlyMap<string, Title> = new Map(
  T.map(([id, title, year, maturity, avgRating, genres]) => [id, { id, title, year, maturity, avgRating, genres }]),
);

/** Long-form details only the metadata service serves (not cached). */
export function detailsOf(id: string): { synopsis: string; cast: string[]; runtimeMin: number } | undefined {
  const t = TITLES.get(id);
  if (!t) return undefined;
  return { synopsis: `${t.title} (${t.year}), a ${t.genres.join(' / ')} story.`, cast: ['R. Okafor', 'M. Lindqvist', 'J. Ferreira'], runtimeMin: 90 + (Number(id) % 7) * 6 };
}

/** The box art URL of a title. */
export function artworkOf(id: string): string | undefined {
  return TITLES.has(id) ? `https://img.example.net/boxart/${id}/342x192.jpg` : undefined;
}

/** What the cache zones hold when they start: every title summary and every artwork URL. */
export function cacheSnapshot(): Map<string, string> {
  const m = new Map<string, string>();
  for (const t of TITLES.values()) {
    m.set(`titles:${t.id}`, JSON.stringify(t));
    m.set(`artwork:${t.id}`, JSON.stringify({ id: t.id, url: artworkOf(t.id) }));
  }
  return m;
}

/** The demo member: one account, one profile. The bearer token is what the demo's requests send. */
export const DEMO_TOKEN = 'demo-token-7';
export interface Session {
  readonly userId: string;
  readonly profileId: string;
  readonly profileName: string;
  readonly maturity: string;
  /** The plan as of the login, carried in the session so that callers can degrade without billing. */
  readonly plan: string;
  readonly country: string;
}
export const SESSIONS: ReadonlyMap<string, Session> = new Map([
  [DEMO_TOKEN, { userId: '1001', profileId: '7', profileName: 'Alex', maturity: '16', plan: 'premium', country: 'NL' }],
]);

export const PROFILES: ReadonlyMap<string, { id: string; name: string; maturity: string; language: string; avatar: string; autoplay: boolean }> = new Map([
  ['7', { id: '7', name: 'Alex', maturity: '16', language: 'en', avatar: 'https://img.example.net/avatars/fox.png', autoplay: true }],
]);

export const SUBSCRIPTIONS: ReadonlyMap<string, { userId: string; plan: string; maxStreams: number; uhd: boolean; status: string }> = new Map([
  ['1001', { userId: '1001', plan: 'premium', maxStreams: 4, uhd: true, status: 'active' }],
]);

/** The recommender's precomputed candidates per profile, and "more like this" per title. */
export const PERSONALIZED: ReadonlyMap<string, readonly string[]> = new Map([['7', ['49', '41', '47', '46', '42', '50']]]);
export function similarTo(id: string): string[] {
  const t = TITLES.get(id);
  if (!t) return [];
  return [...TITLES.values()].filter((o) => o.id !== id && o.genres.some((g) => t.genres.includes(g))).map((o) => o.id);
}

/** Predicted stars per profile and title. */
export function predictedStars(profileId: string, titleId: string): number | undefined {
  const t = TITLES.get(titleId);
  if (!t || profileId !== '7') return undefined;
  return Math.round((t.avgRating + ((Number(titleId) % 3) - 1) * 0.2) * 10) / 10;
}

export const TRENDING: readonly string[] = ['44', '49', '42', '45', '51'];
/** The edge's last resort for the first row: a static list baked into the edge (Netflix's "static fallback"). */
export const STATIC_PICKS: readonly string[] = ['42', '46', '49'];

export const BOOKMARKS: ReadonlyMap<string, ReadonlyMap<string, number>> = new Map([['7', new Map([['45', 1312], ['48', 402]])]]);
export const MY_LIST: ReadonlyMap<string, readonly string[]> = new Map([['7', ['42', '43', '50']]]);

/** Content keys for licensing, per title. */
export function contentKeyOf(id: string): { keyId: string; key: string } | undefined {
  return TITLES.has(id) ? { keyId: `kid-${id}-01`, key: Buffer.from(`key-for-${id}`).toString('base64') } : undefined;
}
