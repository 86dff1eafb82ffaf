// A caseload for cm1.demo of any size: the demo practice's plans plus GP records imported
// through the FHIR import (`POST /api/v1/patients/import`), each with conditions,
// medicines, an allergy and an observation. Used by the app-open benchmark and the
// first-sync browser tests.

// A valid NHS number in the 999 (test) range: Modulus 11 over the first nine digits.
export function nhsNumber(serial) {
  const nine = `999${String(serial).padStart(6, '0')}`;
  const sum = [...nine].reduce((acc, d, i) => acc + Number(d) * (10 - i), 0);
  const check = 11 - (sum % 11);
  if (check === 10) return null;
  return `${nine}${check === 11 ? 0 : check}`;
}

const GIVEN = ['Ada', 'Bert', 'Cora', 'Dev', 'Edna', 'Frank', 'Gita', 'Harold', 'Iris', 'Jon', 'Kamala', 'Len'];
const FAMILY = ['Ashby', 'Brook', 'Carver', 'Dale', 'Eaton', 'Finch', 'Gale', 'Hart', 'Ives', 'Joyce', 'Kerr', 'Lowe', 'Marsh'];
const CONDITIONS = ['Heart failure', 'COPD', 'Type 2 diabetes', 'Chronic kidney disease stage 3', 'Atrial fibrillation', 'Dementia', 'Osteoarthritis'];
const MEDICINES = [['Furosemide', '40 mg once a day'], ['Bisoprolol', '2.5 mg once a day'], ['Metformin', '500 mg twice a day'], ['Apixaban', '5 mg twice a day'], ['Salbutamol inhaler', '2 puffs when needed']];

export function bundle(i, nhs) {
  const patient = {
    resourceType: 'Patient',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }],
    name: [{ family: FAMILY[i % FAMILY.length], given: [GIVEN[(i * 7) % GIVEN.length]] }],
    gender: i % 2 ? 'female' : 'male',
    birthDate: `19${30 + (i % 20)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
    address: [{ text: `${i + 1} Bench Street, Ashbridge` }],
  };
  const subject = { reference: 'Patient/p' };
  const resources = [patient];
  for (let k = 0; k < 3; k++) {
    resources.push({ resourceType: 'Condition', code: { text: CONDITIONS[(i + k) % CONDITIONS.length] }, subject, note: [{ text: 'Managed by the GP and the community matron' }] });
  }
  for (let k = 0; k < 4; k++) {
    const [name, dose] = MEDICINES[(i + k) % MEDICINES.length];
    resources.push({ resourceType: 'MedicationStatement', status: 'active', medicationCodeableConcept: { text: name }, dosage: [{ text: dose }], subject });
  }
  resources.push({
    resourceType: 'AllergyIntolerance', code: { text: 'Penicillin' }, patient: subject,
    reaction: [{ manifestation: [{ text: 'Rash' }], severity: 'moderate' }],
  });
  resources.push({
    resourceType: 'Observation', status: 'final', subject, effectiveDateTime: '2026-10-01T10:00:00Z',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    valueQuantity: { value: 70 + (i % 20), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) };
}

export async function fillCaseload(env, target) {
  const token = await env.apiLogin('cm1.demo');
  const count = async () => {
    const r = await env.api('GET', '/api/v1/patients', { token });
    if (r.status !== 200) throw new Error(`caseload: ${r.status} ${r.text}`);
    return r.json.length;
  };
  let have = await count();
  const started = Date.now();
  let failures = 0;
  for (let serial = 700000; have < target; serial++) {
    const nhs = nhsNumber(serial);
    if (!nhs) continue;
    const r = await env.api('POST', '/api/v1/patients/import', { token, body: bundle(serial, nhs) });
    if (r.status === 201) have += 1;
    else if (r.status !== 200 && ++failures > 5) throw new Error(`import refused: ${r.status} ${r.text.slice(0, 600)}`);
  }
  console.log(`caseload of cm1.demo: ${await count()} plans (filled in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
