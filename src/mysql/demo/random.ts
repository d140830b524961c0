// A small seeded PRNG (mulberry32): the demo data must be the same for the same --seed on every
// machine, which Math.random cannot give.

export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

export const FIRST_NAMES = [
  'Ada',
  'Björn',
  'Chloé',
  'Dmitri',
  'Eve',
  'Fatima',
  'Grace',
  'Hiro',
  'Inès',
  'José',
  'Kofi',
  'Lena',
  'Mei',
  'Noor',
  'Olu',
  'Priya',
  'Quinn',
  'Raúl',
  'Sven',
  'Tomás',
  'Uma',
  'Vera',
  'Wen',
  'Yara',
  'Zoë',
];
export const LAST_NAMES = [
  'Lovelace',
  'Ørsted',
  'Dubois',
  'Ivanov',
  'Smith',
  'Haddad',
  'Hopper',
  'Tanaka',
  'Martín',
  'García',
  'Mensah',
  'Müller',
  'Li',
  'Khan',
  'Adeyemi',
  'Patel',
  "O'Brien",
  'Núñez',
  'Berg',
  'Silva',
];
export const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'JP', 'BR', 'IN', 'NG', 'SE', 'ES'];
export const CATEGORIES = ['books', 'electronics', 'garden', 'toys', 'grocery'] as const;
export const TAGS = ['new', 'sale', 'eco', 'gift'] as const;
export const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'] as const;
export const WORDS = [
  'lamp',
  'chair',
  'kettle',
  'novel',
  'drone',
  'seed',
  'rake',
  'puzzle',
  'coffee',
  'tea',
  'robot',
  'atlas',
  'mug',
  'scarf',
  '🌱',
  '☕',
];
