import type { GradRule } from '../rule.js';

export const rules: readonly GradRule[] = [];
